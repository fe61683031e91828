/** IFNAMSIZ - 1 */
export const MAX_IFNAME_LENGTH = 15;

/** What the kernel accepts as an interface name (dev_valid_name): for names tsnet makes or stored. */
export function isValidIfname(name: string): boolean {
  return (
    name.length > 0 &&
    Buffer.byteLength(name) <= MAX_IFNAME_LENGTH &&
    name !== '.' &&
    name !== '..' &&
    !/[/:\s]/.test(name)
  );
}

/**
 * What tsnet accepts from a user's option (`-o com.docker.network.bridge.name`, `-o parent`): the
 * kernel's rule narrowed to a character set that is safe in iptables arguments and logs. No '@': `ip
 * link` prints "name@peer", and iptables reads a trailing '+' as a wildcard.
 */
export function isAcceptedIfname(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,15}$/.test(name) && isValidIfname(name);
}
