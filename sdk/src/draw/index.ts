// Drawing helpers shared by visualisation plugins: colour maps, figure composition with sharp and SVG text, grids, image tensors to rasters, which epochs to draw.
export * from './ColorMap.js';
export * from './DrawSchedule.js';
export * from './Figure.js';
export * from './GridLayout.js';
export * from './imageRasters.js';
