// Builds the plugin bundle the server ships (src/tandem/static/rtc/plugin.min.js).
//
//   node build.mjs           write the bundle (npm run build)
//   node build.mjs --check   build in memory and compare with the committed bundle, byte for
//                            byte; exit 1 if they differ (npm run check:bundle, scripts/test)
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const OUTFILE = fileURLToPath(new URL('../../src/tandem/static/rtc/plugin.min.js', import.meta.url));

/** @type {import('esbuild').BuildOptions} */
const OPTIONS = {
  entryPoints: [fileURLToPath(new URL('src/plugin.js', import.meta.url))],
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  legalComments: 'none',
  outfile: OUTFILE,
  logLevel: 'warning',
};

/** @returns {Promise<number>} the exit code */
async function check() {
  const result = await esbuild.build({ ...OPTIONS, write: false });
  const fresh = result.outputFiles[0].contents;
  /** @type {Uint8Array | null} */
  let committed = null;
  try {
    committed = await readFile(OUTFILE);
  } catch (error) {
    console.error(`check:bundle: cannot read ${OUTFILE}: ${error}`);
  }
  if (committed !== null && Buffer.compare(Buffer.from(fresh), committed) === 0) {
    return 0;
  }
  console.error(
    `check:bundle: ${OUTFILE} is not a fresh build of clients/tinymce/src ` +
      `(committed ${committed === null ? 'missing' : `${committed.length} bytes`}, ` +
      `fresh build ${fresh.length} bytes).\n` +
      'Run `npm run build` in clients/tinymce and commit src/tandem/static/rtc/plugin.min.js.',
  );
  return 1;
}

if (process.argv.includes('--check')) {
  process.exitCode = await check();
} else {
  await esbuild.build(OPTIONS);
}
