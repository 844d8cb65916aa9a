// jsfive (a pure-JavaScript HDF5 reader) ships no type declarations; these cover what interop/ uses.
declare module "jsfive" {
  export class File {
    constructor(buffer: ArrayBuffer, filename: string);
    /** A Group ({ keys }) or a Dataset ({ shape, dtype, value }), or undefined when absent. */
    get(path: string): unknown;
  }
}
