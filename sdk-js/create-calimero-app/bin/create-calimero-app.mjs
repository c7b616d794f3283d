#!/usr/bin/env node
// npx create-calimero-app <name> [--template kv-store|counter] [--sdk <dir|tarball>]
//
// Writes a TypeScript Calimero app into ./<name>: the template's source and scenario, a
// package.json whose scripts build (`cargo calimero build`), test (`cargo calimero test`) and
// type-check (`tsc --noEmit`), and a dependency on @calimero/sdk that needs no registry: the
// SDK of the checkout this package lives in, or the SDK tarball packed into this package.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, "..");
const TEMPLATES = ["kv-store", "counter"];

const USAGE = `Create a Calimero app in TypeScript.

Usage: npx create-calimero-app <name> [options]

Options:
  --template <name>   kv-store (default): a replicated key-value store with events and errors
                      counter: a replicated counter with 64-bit totals
  --sdk <path>        the @calimero/sdk to depend on: a directory (sdk-js/sdk of a checkout) or
                      a tarball from \`npm pack\` (default: the one this package carries)
  --dir <path>        where to create the app (default: the current directory)
  -h, --help          this help
  -v, --version       this package's version

Then: cd <name> && npm install && npm run typecheck && npm run build && npm test
(build and test need \`cargo calimero\` on the PATH: cargo install --path toolchain).`;

function fail(message) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

function parse(argv) {
  const options = { name: null, template: "kv-store", sdk: null, dir: process.cwd() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("-")) fail(`${arg} needs a value (see --help)`);
      return v;
    };
    if (arg === "-h" || arg === "--help") {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (arg === "-v" || arg === "--version") {
      process.stdout.write(`${JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")).version}\n`);
      process.exit(0);
    } else if (arg === "--template" || arg === "-t") options.template = value();
    else if (arg.startsWith("--template=")) options.template = arg.slice("--template=".length);
    else if (arg === "--sdk") options.sdk = value();
    else if (arg === "--dir") options.dir = resolve(value());
    else if (arg.startsWith("-")) fail(`unknown option ${arg} (see --help)`);
    else if (options.name === null) options.name = arg;
    else fail(`one app name only, got ${options.name} and ${arg}`);
  }
  return options;
}

/** The template directory: packed into this package, or in the checkout it lives in. */
function templateDir(template) {
  if (!TEMPLATES.includes(template)) {
    fail(`unknown template \`${template}\`; choose one of: ${TEMPLATES.join(", ")}`);
  }
  for (const dir of [join(pkg, "templates", template), join(pkg, "..", "..", "templates", "ts", template)]) {
    if (existsSync(join(dir, "src", "index.ts"))) return dir;
  }
  fail(`the template ${template} is missing from ${pkg}; reinstall create-calimero-app`);
}

/** What package.json's dependency on @calimero/sdk says, copying a tarball into the app. */
function sdkSpec(sdk, app) {
  let source = sdk ? resolve(sdk) : null;
  if (source === null) {
    const packed = existsSync(join(pkg, "sdk"))
      ? readdirSync(join(pkg, "sdk")).filter((f) => f.endsWith(".tgz"))
      : [];
    if (packed.length > 0) source = join(pkg, "sdk", packed.sort().at(-1));
    else source = resolve(pkg, "..", "sdk");
  }
  if (!existsSync(source)) {
    fail(`no @calimero/sdk at ${source}; pass --sdk <sdk-js/sdk directory or packed tarball>`);
  }
  if (statSync(source).isDirectory()) {
    if (!existsSync(join(source, "index.d.ts"))) {
      fail(`${source} is not the SDK: it has no index.d.ts (pass the sdk-js/sdk directory)`);
    }
    return `file:${source}`;
  }
  // A tarball is copied in, so the app installs offline and carries what it was made with.
  mkdirSync(join(app, "vendor"), { recursive: true });
  const copy = join(app, "vendor", basename(source));
  copyFileSync(source, copy);
  return `file:${relative(app, copy)}`;
}

function copyTemplate(from, to, values) {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    if (entry.isDirectory()) {
      mkdirSync(join(to, entry.name), { recursive: true });
      copyTemplate(source, join(to, entry.name), values);
      continue;
    }
    // npm drops files named .gitignore from packages, so templates keep it as `gitignore`.
    const name = entry.name === "gitignore" ? ".gitignore" : entry.name.replace(/\.tmpl$/, "");
    let text = readFileSync(source, "utf8");
    for (const [key, value] of Object.entries(values)) text = text.replaceAll(`{{${key}}}`, value);
    writeFileSync(join(to, name), text);
  }
}

async function main() {
  const options = parse(process.argv.slice(2));
  if (options.name === null) {
    if (!process.stdin.isTTY) fail("give the app a name: npx create-calimero-app <name> (see --help)");
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    options.name = (await rl.question("App name: ")).trim();
    rl.close();
  }
  const name = options.name;
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(name)) {
    fail(`\`${name}\` is not a valid app name: use letters, digits, \`-\` and \`_\`, starting with a letter`);
  }
  const from = templateDir(options.template);
  const app = join(options.dir, name);
  if (existsSync(app)) fail(`${app} already exists; pick another name or remove it`);
  mkdirSync(app, { recursive: true });
  const sdk = sdkSpec(options.sdk, app);
  copyTemplate(from, app, { name, crate_name: name.replaceAll("-", "_"), sdk });
  const shown = relative(process.cwd(), app) || ".";
  process.stdout.write(
    `created ${name} (${options.template}) in ${app}\n` +
      `next:\n  cd ${shown}\n  npm install\n  npm run typecheck\n  npm run build\n  npm test\n`,
  );
}

main().catch((error) => fail(error?.message ?? String(error)));
