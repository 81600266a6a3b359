// The seed topology's three nodes (underlay 192.168.0.0/24, overlay 179.17.1.0/24), shared by network tests.
export interface SeedNode {
  readonly name: string;
  readonly underlay: string;
  readonly overlay: string;
  readonly mac: string;
}
export const N1: SeedNode = { name: 'n1', underlay: '192.168.0.21', overlay: '179.17.1.21', mac: 'c2:6a:9b:e5:39:8d' };
export const N2: SeedNode = { name: 'n2', underlay: '192.168.0.31', overlay: '179.17.1.31', mac: '7a:3a:fe:45:a3:76' };
export const N3: SeedNode = { name: 'n3', underlay: '192.168.0.16', overlay: '179.17.1.16', mac: '36:f9:67:c0:70:1c' };
