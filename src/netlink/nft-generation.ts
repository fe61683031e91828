import { createNetlink, type NetlinkSocket } from 'netlink';

const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_GETGEN = 16;
const NFTA_GEN_ID = 1;
const REQUEST_TIMEOUT_MS = 2_000;

/**
 * The nftables ruleset generation of this network namespace: a number the kernel bumps on every
 * change to any nftables table, whoever makes it (iptables-nft, ip6tables-nft, ebtables-nft and nft all
 * commit through it). Equal numbers mean an identical ruleset, which lets the periodic firewall check
 * skip its iptables-save runs (each spawn blocks Node's event loop for 4-6 ms here: a fork of the whole
 * process) when nothing changed. Undefined when it cannot be read (no nf_tables, a netlink error): the
 * caller then checks the slow way. One netlink socket, opened on first use, reopened after an error.
 */
export class NftGeneration {
  private socket?: NetlinkSocket;

  async read(): Promise<number | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
      this.socket ??= createNetlink(NETLINK_NETFILTER);
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('nftables generation: no answer')), REQUEST_TIMEOUT_MS);
      });
      // nfgenmsg: family AF_UNSPEC, version 0, resource id 0.
      const [messages] = await Promise.race([this.socket.request((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN, Buffer.alloc(4)), timeout]);
      for (const m of messages) {
        const id = generationId(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
        if (id !== undefined) return id;
      }
      return undefined;
    } catch {
      this.close();
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    try {
      this.socket?.socket.close();
    } catch {
      // already closed
    }
    this.socket = undefined;
  }
}

/** NFTA_GEN_ID (a big-endian u32) from a NFT_MSG_NEWGEN payload: nfgenmsg, then netlink attributes. */
export function generationId(payload: Buffer): number | undefined {
  let offset = 4;
  while (offset + 4 <= payload.length) {
    const length = payload.readUInt16LE(offset);
    const type = payload.readUInt16LE(offset + 2) & 0x3fff;
    if (length < 4 || offset + length > payload.length) return undefined;
    if (type === NFTA_GEN_ID && length >= 8) return payload.readUInt32BE(offset + 4);
    offset += (length + 3) & ~3;
  }
  return undefined;
}
