import { BadRequestError } from '../model/errors';

/** A request the IPAM refuses; the message names what was wrong and is shown to the Docker user. */
export class IpamError extends BadRequestError {
  override readonly name = 'IpamError';
}
