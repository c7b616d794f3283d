// Before `npm pack`: copy the TypeScript templates and a packed @calimero/sdk into this package,
// so the tarball scaffolds apps with no checkout and no registry.
import { cpSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const root = resolve(pkg, "..", "..");
rmSync(join(pkg, "templates"), { recursive: true, force: true });
cpSync(join(root, "templates", "ts"), join(pkg, "templates"), { recursive: true });
rmSync(join(pkg, "sdk"), { recursive: true, force: true });
mkdirSync(join(pkg, "sdk"));
execFileSync("npm", ["pack", "--silent", "--pack-destination", join(pkg, "sdk"), join(root, "sdk-js", "sdk")], {
  stdio: ["ignore", "ignore", "inherit"],
});
console.log(`packed templates and ${readdirSync(join(pkg, "sdk")).join(", ")} into create-calimero-app`);
