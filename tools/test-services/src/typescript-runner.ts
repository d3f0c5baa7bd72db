import { fileURLToPath } from 'node:url';

/**
 * Path of a script that runs a TypeScript module of this repository (its exported `main()`)
 * in a plain Node process, through Vite with the repository's vitest config: fork it with
 * the module's absolute path to test across OS processes.
 */
export const TYPESCRIPT_RUNNER = fileURLToPath(new URL('./run-typescript.mjs', import.meta.url));
