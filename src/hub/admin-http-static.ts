/**
 * Static files of the dashboard (built by another part of the project into `src/hub/dashboard/`), served
 * by the admin listener: `/` is `index.html`, other paths map onto files in the folder. The folder is
 * looked up per request, so a dashboard built while the hub runs is served without a restart.
 *
 * No directory traversal: the decoded path may not contain NUL, `..` or dot-files, and the real path of
 * the file (symlinks resolved) must stay inside the real path of the folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the dashboard is built. */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('./dashboard/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

/**
 * Pages may load scripts, styles, images and fonts from the admin listener only and call back only to
 * it; no inline scripts, no framing.
 */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** The content type for a file name. */
export function contentTypeFor(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** A file to send. */
export interface StaticFile {
  file: string;
  size: number;
  contentType: string;
}

/**
 * The file for a URL path (already without its query), or `undefined` when there is none, the folder is
 * missing, or the path tries to leave the folder.
 */
export function resolveStatic(root: string, urlPath: string): StaticFile | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').filter((segment) => segment !== '');
  if (segments.some((segment) => segment.startsWith('.'))) return undefined;
  if (segments.length === 0) segments.push('index.html');
  let realRoot: string;
  let real: string;
  try {
    realRoot = fs.realpathSync(root);
    real = fs.realpathSync(path.join(realRoot, ...segments));
  } catch {
    return undefined;
  }
  if (!real.startsWith(realRoot + path.sep)) return undefined;
  const stat = fs.statSync(real, { throwIfNoEntry: false });
  if (!stat?.isFile()) return undefined;
  return { file: real, size: stat.size, contentType: contentTypeFor(real) };
}
