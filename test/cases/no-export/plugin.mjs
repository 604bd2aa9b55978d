export const notAPlugin = 42;
