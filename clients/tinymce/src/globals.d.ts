// Globals the plugin reads, for tsc (npm run typecheck) only: esbuild and the browser never
// see this file. In the page, TinyMCE defines `tinymce` before it loads the plugin.
import type { TinyMCE } from 'tinymce';

declare global {
  var tinymce: TinyMCE | undefined;
  // set in a browser's console: the binding logs every whole-block rewrite (binding.js)
  var __rtcDebug: unknown;
}

export {};
