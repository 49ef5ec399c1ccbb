/** Types of `express4`, the npm alias of Express 4 the HTTP tests also run on: those of `express`. */
declare module 'express4' {
  import express from 'express';
  export default express;
}
