// Validate AsyncAPI documents with the AsyncAPI initiative's own parser (the one its CLI
// and Studio use): `node asyncapi.mjs FILE...`. Prints every diagnostic; exit 1 on an error.
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(await readFile(file, "utf8"), {
    source: file,
  });
  for (const d of diagnostics) {
    const level = DiagnosticSeverity[d.severity] ?? d.severity;
    console.log(`${file}: ${level} ${d.code}: ${d.message} at /${d.path.join("/")}`);
  }
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  if (!document || errors.length > 0) failed = true;
  else console.log(`${file}: valid AsyncAPI ${document.version()}, ${document.channels().length} channels`);
}
process.exit(failed ? 1 : 0);
