export { classicDenseSpec as denseSpec, customBlockSpec as blockSpec } from "../../src/cli/example-specs.js";
