// Dead exports: an export of the product code (lib/, rtp/, sip/, src/) that no other file of the
// project imports (tests and benchmarks count as importers). `npm run lint` runs it; it prints
// each one as `file:line name` and exits 1. An export only its own file uses should not be
// exported; one nothing uses should go.
//
// scripts/dead-exports.baseline lists (`file name`) the ones left in files other work was changing
// when the check came; they are reported as known, not as failures, and should be worked off (a
// line that no longer names a dead export fails the check, so the list only shrinks).
//
//   node scripts/dead-exports.mjs [--project tsconfig.json] [--dirs lib,rtp,sip,src] [--baseline FILE]
import ts from 'typescript';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * @param {{ project: string, dirs: string[] }} opts tsconfig path; folders (relative to it) whose exports are checked
 * @returns {{ file: string, line: number, name: string }[]} the dead exports, sorted
 */
export function findDeadExports({ project, dirs }) {
  const root = dirname(resolve(project));
  const config = ts.readConfigFile(project, ts.sys.readFile);
  if (config.error) {
    throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, '\n'));
  }
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
  const checker = program.getTypeChecker();
  const own = program
    .getSourceFiles()
    .filter((f) => !program.isSourceFileFromExternalLibrary(f) && !f.isDeclarationFile);

  /** Export symbols (of any module) used from another file. */
  const used = new Set();
  /** Modules used as a whole (`import * as`, `import()`, `export *`). */
  const wholeModules = new Set();
  const markAlias = (node) => {
    let sym = checker.getSymbolAtLocation(node);
    // Walk the alias chain (import → barrel re-export → declaration), marking every step.
    for (let i = 0; sym && i < 10; i++) {
      used.add(sym);
      if (!(sym.flags & ts.SymbolFlags.Alias)) {
        break;
      }
      sym = checker.getImmediateAliasedSymbol(sym);
    }
  };
  const markModule = (specifier) => {
    const m = checker.getSymbolAtLocation(specifier);
    if (m) {
      wholeModules.add(m);
    }
  };

  for (const sf of own) {
    const visit = (node) => {
      if (ts.isImportDeclaration(node) && node.importClause) {
        const { name, namedBindings } = node.importClause;
        if (name) {
          markAlias(name);
        }
        if (namedBindings && ts.isNamespaceImport(namedBindings)) {
          markModule(node.moduleSpecifier);
        } else if (namedBindings) {
          for (const el of namedBindings.elements) {
            markAlias(el.name);
          }
        }
      } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
        if (!node.exportClause || ts.isNamespaceExport(node.exportClause)) {
          markModule(node.moduleSpecifier);
        } else {
          for (const el of node.exportClause.elements) {
            // A re-export uses what it re-exports (the barrel's own entry is checked in turn).
            const target = checker.getExportSpecifierLocalTargetSymbol(el);
            if (target) {
              used.add(target);
              if (target.flags & ts.SymbolFlags.Alias) {
                used.add(checker.getAliasedSymbol(target));
              }
            }
          }
        }
      } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
        markModule(node.argument.literal);
      } else if (
        ts.isCallExpression(node) &&
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments[0] &&
        ts.isStringLiteral(node.arguments[0])
      ) {
        markModule(node.arguments[0]);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }

  const checked = dirs.map((d) => resolve(root, d) + sep);
  const dead = [];
  for (const sf of own) {
    const path = resolve(sf.fileName);
    if (!checked.some((d) => path.startsWith(d))) {
      continue;
    }
    const mod = checker.getSymbolAtLocation(sf);
    if (!mod || wholeModules.has(mod)) {
      continue;
    }
    for (const sym of checker.getExportsOfModule(mod)) {
      const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
      if (used.has(sym) || (sym === target && used.has(target))) {
        continue;
      }
      const decl = sym.declarations?.[0];
      const line = decl ? sf.getLineAndCharacterOfPosition(decl.getStart(sf)).line + 1 : 0;
      dead.push({ file: relative(root, path), line, name: sym.name });
    }
  }
  return dead.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(name);
    return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
  };
  const dead = findDeadExports({
    project: arg('--project', 'tsconfig.json'),
    dirs: arg('--dirs', 'lib,rtp,sip,src').split(','),
  });
  const baselineFile = arg('--baseline', 'scripts/dead-exports.baseline');
  const known = new Set(
    existsSync(baselineFile)
      ? readFileSync(baselineFile, 'utf8')
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean)
      : [],
  );
  const fresh = dead.filter((d) => !known.has(`${d.file} ${d.name}`));
  for (const d of fresh) {
    console.log(`${d.file}:${d.line} ${d.name}`);
  }
  if (dead.length > fresh.length) {
    console.log(`dead exports: ${dead.length - fresh.length} known (${baselineFile})`);
  }
  // The baseline only shrinks: an entry that is no longer dead (worked off, or used again) goes.
  const deadKeys = new Set(dead.map((d) => `${d.file} ${d.name}`));
  const stale = [...known].filter((k) => !deadKeys.has(k));
  for (const k of stale) {
    console.log(`${baselineFile}: "${k}" is no longer a dead export: remove the line`);
  }
  if (fresh.length > 0) {
    console.log(`${fresh.length} export(s) no other file imports: un-export or delete them`);
  }
  if (fresh.length > 0 || stale.length > 0) {
    process.exit(1);
  }
}
