import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { BtError } from '@bt-platform/sdk';

/** One sample of a split: its id and the files that hold it. */
export interface VocSample {
  id: string;
  image: string;
  mask: string;
}

/** How to get data, for error hints. */
export function dataHint(root: string): string {
  return (
    `Generate a small VOC-format set with \`npx bt-platform data synth --out ${root}\`, ` +
    `download PASCAL VOC 2012 with \`npx bt-platform data download voc --out ${root}\`, ` +
    'or set `data.generate` to synthesise a set there on first use.'
  );
}

/** The VOC2012 directory under `root`: `root` itself, `root/VOC2012` or `root/VOCdevkit/VOC2012`. */
export function findVocDir(root: string): string | undefined {
  for (const candidate of [root, path.join(root, 'VOC2012'), path.join(root, 'VOCdevkit', 'VOC2012')]) {
    if (existsSync(path.join(candidate, 'JPEGImages')) || existsSync(path.join(candidate, 'ImageSets'))) return candidate;
  }
  return undefined;
}

/** The VOC2012 directory under `root`, or a DATA_MISSING error that names the path and how to get the data. */
export function requireVocDir(root: string): string {
  if (!existsSync(root)) {
    throw new BtError('DATA_MISSING', `PASCAL VOC data not found: ${root} does not exist (data.root).`, { hint: dataHint(root) });
  }
  const dir = findVocDir(root);
  if (!dir) {
    throw new BtError(
      'DATA_MISSING',
      `No VOC layout under ${root}: expected JPEGImages and ImageSets in ${root}, ${path.join(root, 'VOC2012')} or ${path.join(root, 'VOCdevkit', 'VOC2012')}.`,
      { hint: dataHint(root) },
    );
  }
  return dir;
}

/** The samples listed in `ImageSets/<imageSet>/<split>.txt`, at most `limit` of them. */
export async function readSplit(vocDir: string, split: string, root: string, limit?: number, imageSet: 'Segmentation' | 'Main' = 'Segmentation'): Promise<VocSample[]> {
  const splitDir = path.join(vocDir, 'ImageSets', imageSet);
  const file = path.join(splitDir, `${split}.txt`);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    const available = existsSync(splitDir)
      ? (await fsp.readdir(splitDir)).filter((f) => f.endsWith('.txt')).map((f) => f.slice(0, -4))
      : [];
    throw new BtError('DATA_MISSING', `Split file ${file} not found.`, {
      hint: available.length
        ? `Name one of the splits in ${splitDir} (${available.join(', ')}) in data.trainSplit / data.valSplit / data.testSplit.`
        : dataHint(root),
    });
  }
  const ids = text
    .split(/\r?\n/)
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((id) => id.length > 0);
  if (ids.length === 0) throw new BtError('DATA_MISSING', `Split file ${file} lists no images.`, { hint: dataHint(root) });
  return ids.slice(0, limit ?? ids.length).map((id) => ({
    id,
    image: path.join(vocDir, 'JPEGImages', `${id}.jpg`),
    mask: path.join(vocDir, 'SegmentationClass', `${id}.png`),
  }));
}
