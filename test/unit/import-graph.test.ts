// The import graph of src/, bench/ and scripts/: no circles (type-only imports count: a circle of types is
// still two files that cannot be read, moved or tested one without the other), the layers point one way,
// and src/testbed is a leaf the demo, the tests and the benchmarks stand on.
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = normalize(join(dirname(new URL(import.meta.url).pathname), '../..'));
const SCANNED = ['src', 'bench', 'scripts'];

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'results' ? [] : tsFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/**
 * Every module specifier a file names: `import ... from`, `import type ... from`, `export ... from`,
 * `export type ... from`, side-effect `import '...'`, and `import('...')` (a dynamic import or an inline type).
 * Block comments and whole-line comments are removed first, so a doc comment's example is not an import.
 */
function specifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  const statement = /(?:^|[;\n])\s*(?:import|export)\s+(?:type\s+)?(?:[^;'"`]*?\bfrom\s*)?['"]([^'"\n]+)['"]/g;
  const call = /\bimport\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g;
  for (const re of [statement, call]) for (const m of code.matchAll(re)) out.push(m[1]!);
  return out;
}

interface Edge {
  readonly from: string;
  readonly spec: string;
  /** The imported file relative to the repository (`src/wire/mac.ts`), or undefined for a package or builtin. */
  readonly to: string | undefined;
}

function edgesOf(file: string): Edge[] {
  return specifiers(readFileSync(join(ROOT, file), 'utf8')).map((spec) => ({
    from: file,
    spec,
    to: spec.startsWith('.') ? normalize(join(dirname(file), spec.replace(/\.js$/, '.ts'))) : undefined,
  }));
}

const files = SCANNED.flatMap(tsFiles).sort();
const edges = new Map(files.map((f) => [f, edgesOf(f)]));

/** Every elementary circle reached by a depth-first walk, each as `a.ts → b.ts → a.ts`. */
function circles(): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const found: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const e of edges.get(f) ?? []) {
      if (e.to === undefined || !edges.has(e.to)) continue;
      const s = state.get(e.to);
      if (s === 'open') found.push([...stack.slice(stack.indexOf(e.to)), e.to].join(' → '));
      else if (s === undefined) visit(e.to);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return found;
}

/** The imports of the files under `dir` that land outside what `allowed` accepts, as `from → spec`. */
function outside(dir: string, allowed: (to: string) => boolean): string[] {
  return files
    .filter((f) => f.startsWith(`${dir}/`))
    .flatMap((f) => edges.get(f)!.filter((e) => e.to !== undefined && !allowed(e.to)).map((e) => `${e.from} → ${e.spec}`));
}

const under = (...dirs: string[]) => (to: string): boolean => dirs.some((d) => to.startsWith(`${d}/`));
const PLATFORM_INTERFACES = ['src/platform/types.ts', 'src/platform/sockaddr.ts'];

describe('import graph', () => {
  it('the parser sees every form of import, type-only and re-exports included, and nothing in comments', () => {
    const text = [
      `import { a } from './a.js';`,
      `import type { B } from "./b.js";`,
      `import {\n  c,\n  type C,\n} from './c.js';`,
      `export { d } from './d.js';`,
      `export type { E } from './e.js';`,
      `export * from './f.js';`,
      `import './g.js';`,
      `const h = await import('./h.js'); type I = import('./i.js').I;`,
      `import x, { y } from 'pkg';`,
      `/** import { no } from './comment.js' */`,
      `// export * from './line-comment.js';`,
      `export const notAnImport = 'from';`,
    ].join('\n');
    expect(specifiers(text)).toEqual(['./a.js', './b.js', './c.js', './d.js', './e.js', './f.js', './g.js', 'pkg', './h.js', './i.js']);
  });

  it('reads the tree: every relative import names a file that exists', () => {
    expect(files.length).toBeGreaterThan(50);
    const missing = [...edges.values()].flat().filter((e) => e.to !== undefined && !files.includes(e.to));
    expect(missing.map((e) => `${e.from} → ${e.spec}`)).toEqual([]);
  });

  it('has no import circle in src/, bench/ or scripts/ (type-only imports included)', () => {
    expect(circles()).toEqual([]);
  });

  it('finds a circle when there is one (the check can fail)', () => {
    edges.set('src/wire/mac.ts', [...edges.get('src/wire/mac.ts')!, { from: 'src/wire/mac.ts', spec: './bytes.js', to: 'src/wire/bytes.ts' }]);
    const back = { from: 'src/wire/bytes.ts', spec: './mac.js', to: 'src/wire/mac.ts' };
    edges.set('src/wire/bytes.ts', [...edges.get('src/wire/bytes.ts')!, back]);
    try {
      expect(circles().join('\n')).toContain('src/wire/bytes.ts → src/wire/mac.ts → src/wire/bytes.ts');
    } finally {
      edges.set('src/wire/bytes.ts', edgesOf('src/wire/bytes.ts'));
      edges.set('src/wire/mac.ts', edgesOf('src/wire/mac.ts'));
    }
  });

  it('src/testbed is a leaf: it imports its own files and Node builtins only', () => {
    const bad = files
      .filter((f) => f.startsWith('src/testbed/'))
      .flatMap((f) => edges.get(f)!)
      .filter((e) => (e.to === undefined ? !(e.spec.startsWith('node:') && builtinModules.includes(e.spec.slice(5))) : !e.to.startsWith('src/testbed/')))
      .map((e) => `${e.from} → ${e.spec}`);
    expect(bad).toEqual([]);
  });

  it('the layers point one way: wire ← dataplane ← control ← cli, the platform injected by the cli', () => {
    expect(outside('src/wire', under('src/wire'))).toEqual([]);
    expect(outside('src/dataplane', (to) => under('src/wire', 'src/dataplane')(to) || PLATFORM_INTERFACES.includes(to))).toEqual([]);
    expect(outside('src/control', (to) => under('src/wire', 'src/dataplane', 'src/control')(to) || PLATFORM_INTERFACES.includes(to))).toEqual([]);
  });

  it('inside src/control: config ← tools, config ← runtime ← ops', () => {
    expect(outside('src/control/config', under('src/wire', 'src/control/config'))).toEqual([]);
    expect(outside('src/control/tools', under('src/wire', 'src/control/config', 'src/control/tools'))).toEqual([]);
    // The runtime answers `fdb show` / `neigh show` in the protocol's row shapes: that one file of ops, no more.
    const runtime = (to: string): boolean =>
      under('src/wire', 'src/dataplane', 'src/control/config', 'src/control/runtime')(to) || PLATFORM_INTERFACES.includes(to) || to === 'src/control/ops/control-protocol.ts';
    expect(outside('src/control/runtime', runtime)).toEqual([]);
    expect(outside('src/control/ops', (to) => !under('src/control/tools')(to))).toEqual([]);
  });
});
