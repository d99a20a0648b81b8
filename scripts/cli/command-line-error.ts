/**
 * A command line's failure whose message says all a person needs (what failed and what to do), so
 * it is printed without a stack trace.
 */
export class CommandLineError extends Error {}
