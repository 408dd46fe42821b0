// Composes subgraph SDLs into the supergraph with The Guild's federation composition.
// Input on stdin: {"subgraphs": [{"name", "url", "sdl"}]}. Output: the supergraph SDL,
// or the composer's own error messages on stderr and exit code 1.
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { composeServices } from '@theguild/federation-composition';

const { subgraphs } = JSON.parse(readFileSync(0, 'utf8'));
const result = composeServices(
  subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })),
);
if (result.errors) {
  for (const error of result.errors) {
    const code = error.extensions?.code ? `[${error.extensions.code}] ` : '';
    process.stderr.write(`${code}${error.message}\n`);
  }
  process.exit(1);
}
process.stdout.write(result.supergraphSdl);
