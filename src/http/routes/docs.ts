import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';
import { bindRoute, defineRoute } from '../route.ts';
import { errorSchema } from '../schemas.ts';

/** The checked-in openapi.yaml: generated from the route schemas, and a test fails when it drifts from them. */
const OPENAPI_FILE = new URL('../../../openapi.yaml', import.meta.url);
const PAGE_DIR = new URL('../docs-page/', import.meta.url);

/**
 * The docs page's CSP: its own script, stylesheet and fetches of /openapi.json, nothing else (no inline code, no
 * other origin, no forms posting anywhere, no framing).
 */
export const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; " +
  "form-action 'none'; frame-ancestors 'none'";

const unauthorized = { description: 'Missing or wrong operator token.', schema: errorSchema };

export const openApiYamlRoute = defineRoute({
  method: 'GET',
  path: '/openapi.yaml',
  aliases: [],
  operationId: 'getOpenApiYaml',
  summary: 'This OpenAPI document, as YAML',
  tags: ['docs'],
  auth: 'viewer',
  responses: {
    200: { description: 'openapi.yaml.', schema: z.string(), contentType: 'application/yaml' },
    401: unauthorized,
  },
});

export const openApiJsonRoute = defineRoute({
  method: 'GET',
  path: '/openapi.json',
  aliases: [],
  operationId: 'getOpenApiJson',
  summary: 'This OpenAPI document, as JSON (what /docs renders)',
  tags: ['docs'],
  auth: 'viewer',
  responses: {
    200: { description: 'openapi.yaml as JSON.', schema: z.record(z.string(), z.unknown()) },
    401: unauthorized,
  },
});

export const docsPageRoute = defineRoute({
  method: 'GET',
  path: '/docs',
  aliases: [],
  operationId: 'getDocsPage',
  summary: 'The API reference as a web page',
  description:
    'A static page that asks for a viewer token and renders GET /openapi.json with its own script and stylesheet ' +
    '(GET /docs/docs.js, /docs/docs.css); it holds no data itself, so it needs no token.',
  tags: ['docs'],
  auth: 'public',
  responses: { 200: { description: 'The page.', schema: z.string(), contentType: 'text/html' } },
});

/** A file the docs page loads, served beside it. */
function docsAssetRoute(name: string, what: string, contentType: string) {
  return defineRoute({
    method: 'GET',
    path: `/docs/${name}`,
    aliases: [],
    operationId: `getDocs${what}`,
    summary: `The docs page's ${what.toLowerCase()}`,
    tags: ['docs'],
    auth: 'public',
    responses: { 200: { description: `${name}.`, schema: z.string(), contentType } },
  });
}

export const docsScriptRoute = docsAssetRoute('docs.js', 'Script', 'text/javascript');
export const docsStylesheetRoute = docsAssetRoute('docs.css', 'Stylesheet', 'text/css');

/** Reads a file once, on first use: they do not change while the process runs. */
function cached<T>(load: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= load();
    return value;
  };
}

const openApiYaml = cached(() => readFile(OPENAPI_FILE, 'utf8'));
const openApiJson = cached(async () => JSON.stringify(parse(await openApiYaml())));
const pageFile = (name: string) => cached(() => readFile(new URL(name, PAGE_DIR), 'utf8'));
const page = pageFile('index.html');
const script = pageFile('docs.js');
const stylesheet = pageFile('docs.css');

export function docsRoutes() {
  return [
    bindRoute(openApiYamlRoute, async ({ reply }) => {
      reply.type('application/yaml; charset=utf-8');
      return openApiYaml();
    }),
    bindRoute(openApiJsonRoute, async ({ reply }) => {
      reply.type('application/json; charset=utf-8');
      return openApiJson();
    }),
    bindRoute(docsPageRoute, async ({ reply }) => {
      reply.type('text/html; charset=utf-8').header('content-security-policy', DOCS_CSP);
      return page();
    }),
    bindRoute(docsScriptRoute, async ({ reply }) => {
      reply.type('text/javascript; charset=utf-8');
      return script();
    }),
    bindRoute(docsStylesheetRoute, async ({ reply }) => {
      reply.type('text/css; charset=utf-8');
      return stylesheet();
    }),
  ];
}
