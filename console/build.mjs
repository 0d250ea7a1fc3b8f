// Builds the developer console into dist/: one JS and one CSS bundle (content-hashed) and index.html,
// plus the OpenAPI UI (swagger-ui-dist, pinned in package-lock.json) under dist/openapi/.
// `npm ci && node build.mjs` (the Makefile's `make console`). The portal's build (web/) is separate.
import { build } from "esbuild";
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
await rm(dist, { recursive: true, force: true });
await mkdir(join(dist, "assets"), { recursive: true });
await mkdir(join(dist, "openapi"), { recursive: true });

const result = await build({
  absWorkingDir: here,
  entryPoints: { console: "src/console.js", style: "src/console.css", openapi: "src/openapi.js", "openapi-style": "src/openapi.css" },
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2022"],
  outdir: join(dist, "assets"),
  entryNames: "[name]-[hash]",
  metafile: true,
  logLevel: "warning",
});
const outputs = Object.entries(result.metafile.outputs);
const find = (entry) => basename(outputs.find(([, o]) => o.entryPoint === entry)[0]);

const fill = async (src, dest, names) => {
  let page = await readFile(join(here, src), "utf8");
  for (const [key, value] of Object.entries(names)) page = page.replaceAll(`{{${key}}}`, value);
  await writeFile(join(dist, dest), page);
};
await fill("src/index.html", "index.html", { script: find("src/console.js"), style: find("src/console.css") });
await fill("src/openapi.html", "openapi/index.html", { script: find("src/openapi.js"), style: find("src/openapi.css") });
const swagger = join(here, "node_modules", "swagger-ui-dist");
await copyFile(join(swagger, "swagger-ui-bundle.js"), join(dist, "openapi", "swagger-ui-bundle.js"));
await copyFile(join(swagger, "swagger-ui.css"), join(dist, "openapi", "swagger-ui.css"));
await copyFile(join(swagger, "LICENSE"), join(dist, "openapi", "LICENSE.txt"));
console.log(`console: built ${outputs.length + 3} files into ${dist}`);
