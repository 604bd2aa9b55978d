import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { BtError } from '@bt-platform/sdk';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png']);

/**
 * The image files named by `inputs`: files as given, directories expanded (recursively, sorted) to
 * their JPEG and PNG files. A path that does not exist, or no image at all, is an error naming them.
 */
export function collectInputs(inputs: readonly string[], cwd: string): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase())) files.push(full);
    }
  };
  for (const input of inputs) {
    const full = path.resolve(cwd, input);
    let isDirectory: boolean;
    try {
      isDirectory = statSync(full).isDirectory();
    } catch {
      throw new BtError('DATA_MISSING', `predict: input ${input} does not exist (resolved to ${full}).`, {
        hint: 'Pass image files (JPEG, PNG) or directories holding them with --input.',
        exitCode: 2,
      });
    }
    if (isDirectory) walk(full);
    else files.push(full);
  }
  if (files.length === 0) {
    throw new BtError('DATA_MISSING', `predict: no JPEG or PNG images in ${inputs.join(', ') || '(no --input given)'}.`, {
      hint: 'Pass image files or directories that hold .jpg, .jpeg or .png files with --input.',
      exitCode: 2,
    });
  }
  return [...new Set(files)];
}
