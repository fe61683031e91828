/** An error caused by what the caller asked for; the server answers 400 with its message. */
export class BadRequestError extends Error {}

/** The request names a network or endpoint tsnet does not have. */
export class NotFoundError extends Error {}

/** A create call that conflicts with an existing object of the same ID. */
export class ConflictError extends Error {}
