// Globals the plugin reads, for tsc (npm run typecheck) only: esbuild and the browser never
// see this file. In the page, TinyMCE defines `tinymce` before it loads the plugin.
import type { TinyMCE } from 'tinymce';

declare global {
  var tinymce: TinyMCE | undefined;
}

export {};
