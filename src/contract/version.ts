/** The registry's version: what `registry --version`, `$SRV.INFO` and the OpenAPI document say (package.json's, a test checks). */
export const VERSION = "0.1.0";
