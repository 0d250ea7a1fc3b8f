// Builds the portal into dist/: one JS bundle and one CSS bundle (USWDS included), content-hashed,
// and index.html pointing at them. `npm ci && node build.mjs` (the Makefile's `make web`).
import { build } from "esbuild";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
await rm(dist, { recursive: true, force: true });
await mkdir(join(dist, "assets"), { recursive: true });

const result = await build({
  absWorkingDir: here,
  entryPoints: { portal: "src/main.js", style: "src/portal.css" },
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022"],
  outdir: join(dist, "assets"),
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  loader: { ".woff2": "file", ".woff": "file", ".ttf": "file", ".svg": "file", ".png": "file", ".gif": "file", ".jpg": "file" },
  metafile: true,
  legalComments: "linked",
  logLevel: "warning",
});

const outputs = Object.entries(result.metafile.outputs);
const find = (entry) => basename(outputs.find(([, o]) => o.entryPoint === entry)[0]);
const page = (await readFile(join(here, "src/index.html"), "utf8"))
  .replace("{{script}}", `/assets/${find("src/main.js")}`)
  .replace("{{style}}", `/assets/${find("src/portal.css")}`);
await writeFile(join(dist, "index.html"), page);
await writeFile(join(dist, "build.json"), JSON.stringify({ script: find("src/main.js"), style: find("src/portal.css") }));
console.log(`web: built ${outputs.length} files into ${dist}`);
