// Writes man/vxlan-user.8 and completion/vxlan-user.bash from the CLI's help texts (src/cli/docs.ts).
// Run through `npm run docs:gen` (it builds dist/ first); test/unit/docs.test.ts checks the files are current.
import { readFileSync, writeFileSync } from 'node:fs';
import { formatBashCompletion, formatManPage } from '../dist/src/cli/docs.js';

const root = new URL('../', import.meta.url);
const { version } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
writeFileSync(new URL('man/vxlan-user.8', root), formatManPage(version));
writeFileSync(new URL('completion/vxlan-user.bash', root), formatBashCompletion());
