export {
  classicDenseSpec as denseSpec,
  customBlockSpec as blockSpec,
  denseStackSpec,
} from "../../src/cli/example-specs.js";
