/** A refusal the HTTP face answers with `status` and a plain-text message (naming the field at fault). */
export class HttpError extends Error {
  /** on a GET, the floor of the index the refusal carries (a missing KV key: its deletion's version) */
  index?: number

  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

export const badRequest = (message: string): HttpError => new HttpError(400, message)
export const notFound = (message = 'not found'): HttpError => new HttpError(404, message)
