// Config front end of the kernel-parity options (issue 3): learning/ageing, outer TTL/TOS/DF, and their refusals.
import { describe, expect, it } from 'vitest';
import { parseUpArgs } from '../../src/control/config/config.js';
import { ConfigError, UsageError } from '../../src/control/config/errors.js';

const up = (...a: string[]) => parseUpArgs(['--vni', '1', ...a]).config!;

describe('--learning / --nolearning / --ageing', () => {
  it('defaults to nolearning (absent from the config) and accepts the kernel spellings', () => {
    expect(up().learning).toBeUndefined();
    expect(up('--learning').learning).toBe(true);
    expect(up('--nolearning').learning).toBeUndefined();
    expect(up('--learning', '--ageing', '0').ageing).toBe(0);
  });
  it('refuses both at once and an ageing out of range', () => {
    expect(() => up('--learning', '--nolearning')).toThrow(UsageError);
    expect(() => up('--ageing', '4294967296')).toThrow(/--ageing 4294967296 is out of range: ageing is 0\.\.4294967295 seconds/);
    expect(() => up('--ageing', '-1')).toThrow(UsageError); // parseArgs: a value starting with '-'
  });
});

describe('--ttl / --tos / --df', () => {
  it('accepts fixed values', () => {
    const c = up('--ttl', '33', '--tos', '184', '--df', 'set');
    expect([c.ttl, c.tos, c.df]).toEqual([33, 184, 'set']);
  });
  it('refuses out-of-range values, unknown modes and --ttl auto (the default) by name', () => {
    expect(() => up('--ttl', '0')).toThrow(/--ttl 0 is out of range: an IP TTL is 1\.\.255 or inherit/);
    expect(() => up('--tos', '256')).toThrow(/--tos 256 is out of range/);
    expect(() => up('--ttl', 'auto')).toThrow(/--ttl auto is the default: leave --ttl out/);
    expect(() => up('--df', 'maybe')).toThrow(/--df maybe is not a DF mode: use set, unset or inherit/);
  });
  it('accepts --ttl inherit and --tos inherit (copy the inner packet\'s) and --df inherit', () => {
    expect(up('--ttl', 'inherit').ttl).toBe('inherit');
    expect(() => up('--io', 'dgram', '--ttl', 'inherit')).toThrow(/needs --io native/);
    expect(up('--tos', 'inherit').tos).toBe('inherit');
    expect(up('--df', 'inherit').df).toBe('inherit');
    expect(() => up('--io', 'dgram', '--df', 'inherit')).toThrow(/needs --io native/);
    expect(() => up('--io', 'dgram', '--tos', 'inherit')).toThrow(/needs --io native/);
  });
  it('refuses them with --io dgram (exit 2: a ConfigError), saying why', () => {
    for (const o of [['--ttl', '9'], ['--tos', '8'], ['--df', 'unset']]) {
      expect(() => up('--io', 'dgram', ...o)).toThrow(ConfigError);
      expect(() => up('--io', 'dgram', ...o)).toThrow(/needs --io native: node:dgram cannot set the outer TTL, TOS or DF bit/);
    }
  });
});

describe('--udpcsum / --noudpcsum / --udp6zerocsumtx / --udp6zerocsumrx', () => {
  it('keeps the kernel defaults out of the config and records the changes', () => {
    expect(up().udpcsum).toBeUndefined();
    expect(up('--udpcsum').udpcsum).toBeUndefined();
    expect(up('--noudpcsum').udpcsum).toBe(false);
    const c = up('--local', '2001:db8::1', '--udp6zerocsumtx', '--udp6zerocsumrx');
    expect([c.udp6zerocsumtx, c.udp6zerocsumrx]).toEqual([true, true]);
  });
  it('refuses contradictions, the wrong underlay family and --io dgram, saying why', () => {
    expect(() => up('--udpcsum', '--noudpcsum')).toThrow(/--udpcsum and --noudpcsum contradict each other/);
    expect(() => up('--local', '2001:db8::1', '--noudpcsum')).toThrow(/--noudpcsum is for an IPv4 underlay/);
    expect(() => up('--udp6zerocsumtx')).toThrow(/--udp6zerocsumtx is for an IPv6 underlay: on IPv4 use --noudpcsum/);
    expect(() => up('--io', 'dgram', '--noudpcsum')).toThrow(/needs --io native: node:dgram cannot change UDP checksum behaviour/);
  });
});
