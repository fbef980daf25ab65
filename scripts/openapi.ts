import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { buildOpenApiDocument } from '../src/http/openapi.ts';
import { ROUTE_SPECS } from '../src/http/routes/index.ts';

export const OPENAPI_PATH = new URL('../openapi.yaml', import.meta.url);

/** openapi.yaml exactly as the code describes itself now. */
export function renderOpenApi(): string {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return stringify(buildOpenApiDocument(ROUTE_SPECS, version), {
    lineWidth: 0,
    aliasDuplicateObjects: false,
  });
}
