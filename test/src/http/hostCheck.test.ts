import { describe, expect, it } from 'vitest';
import { hostAllowed, hostName, originAllowed } from '../../../src/http/hostCheck.js';

const loopback = { host: '127.0.0.1', allowedHosts: [] };
const named = { host: '0.0.0.0', allowedHosts: ['transcribe.example.com', '.corp.example'] };

describe('Host header', () => {
  it.each([
    ['127.0.0.1:8001', '127.0.0.1'],
    ['LocalHost:8001', 'localhost'],
    ['[::1]:8001', '::1'],
    ['example.com.', 'example.com'],
    ['user@evil.example', null],
    ['evil.example/x', null],
    ['a b', null],
  ])('%s names %s', (header, name) => {
    expect(hostName(header)).toBe(name);
  });

  it.each([
    ['127.0.0.1:8001', true],
    ['localhost:8001', true],
    ['localhost', true],
    ['[::1]:8001', true],
    ['app.localhost:8001', true],
    ['192.0.2.10:8001', true],
    ['[2001:db8::1]', true],
    ['evil.example:8001', false],
    ['localhost.evil.example', false],
    ['127.0.0.1.nip.io', false],
    ['', false],
    [undefined, false],
  ])('on loopback, Host %s → %s', (header, ok) => {
    expect(hostAllowed(header, loopback)).toBe(ok);
  });

  it.each([
    ['transcribe.example.com', true],
    ['Transcribe.Example.Com:443', true],
    ['x.transcribe.example.com', false],
    ['corp.example', true],
    ['pbx.corp.example:8001', true],
    ['evilcorp.example', false],
    ['example.com', false],
  ])('with allowedHosts, Host %s → %s', (header, ok) => {
    expect(hostAllowed(header, named)).toBe(ok);
  });

  it('accepts http.host when it is a name', () => {
    expect(hostAllowed('sipscribe.lan:8001', { host: 'sipscribe.lan', allowedHosts: [] })).toBe(true);
  });
});

describe('Origin header', () => {
  it.each([
    [undefined, '127.0.0.1:8001', true],
    ['http://127.0.0.1:8001', '127.0.0.1:8001', true],
    ['http://localhost:8001', 'localhost:8001', true],
    ['http://localhost:8001', '127.0.0.1:8001', false],
    ['http://127.0.0.1:8002', '127.0.0.1:8001', false],
    ['https://evil.example', '127.0.0.1:8001', false],
    ['null', '127.0.0.1:8001', false],
    ['file://', '127.0.0.1:8001', false],
    ['https://transcribe.example.com', 'transcribe.example.com:443', true],
    ['https://transcribe.example.com', '127.0.0.1:8001', true],
    ['https://pbx.corp.example', '10.0.0.5:8001', true],
    ['http://evil.example', undefined, false],
  ])('Origin %s with Host %s → %s', (origin, host, ok) => {
    expect(originAllowed(origin, host, named)).toBe(ok);
  });
});
