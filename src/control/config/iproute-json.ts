/**
 * Readers of iproute2's JSON output (`ip -j addr show`, `ip -j link show`), pure functions over the text so a
 * caller can run `ip` wherever it likes: the runtime in its own namespace, `plan` and the demo in others.
 */
export interface JsonLink {
  ifname: string;
  mtu?: number;
  addr_info?: { local: string; prefixlen: number }[];
}

/**
 * The device that holds `address` in `ip -j addr show` output (taken as text so a caller can run `ip` in
 * another namespace, as `vxlan-user demo` does for its kernel nodes).
 */
export function deviceOfAddressIn(ipAddrJson: string, address: string): { ifname: string; mtu: number } | undefined {
  const l = (JSON.parse(ipAddrJson) as JsonLink[]).find((x) => x.addr_info?.some((a) => a.local === address));
  return l === undefined ? undefined : { ifname: l.ifname, mtu: l.mtu ?? 1500 };
}

/** The MTU of device `name` in `ip -j addr show` (or `ip -j link show`) output, or undefined. */
export function linkMtuIn(ipJson: string, name: string): number | undefined {
  return (JSON.parse(ipJson) as JsonLink[]).find((x) => x.ifname === name)?.mtu;
}
