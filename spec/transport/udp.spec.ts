import assert from 'node:assert/strict'
import dgram from 'node:dgram'
import { createUdpTransport, formatAddress, parseAddress, type UdpTransport } from '../../lib/transport/udp.js'
import { holdsFor, waitFor as pollFor } from '../support/wait.js'

/** Polls `condition` every 5 ms (the shared waitFor); fails after `timeoutMs`. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  await pollFor(condition, what, { timeout: timeoutMs, interval: 5 })
}

function portOf(address: string): number {
  return parseAddress(address).port
}

describe('transport/udp', function () {
  this.timeout(10_000)
  const open: UdpTransport[] = []
  const track = (t: UdpTransport): UdpTransport => {
    open.push(t)
    return t
  }
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()))
  })

  describe('parseAddress / formatAddress', () => {
    it('parses IPv4, host names and bracketed IPv6', () => {
      assert.deepEqual(parseAddress('127.0.0.1:7946'), { host: '127.0.0.1', port: 7946 })
      assert.deepEqual(parseAddress('node-1.example_x.local:1'), { host: 'node-1.example_x.local', port: 1 })
      assert.deepEqual(parseAddress('[::1]:7946'), { host: '::1', port: 7946 })
      assert.deepEqual(parseAddress('[::ffff:10.0.0.1]:65535'), { host: '::ffff:10.0.0.1', port: 65535 })
      assert.deepEqual(parseAddress('[fe80::1%eth0]:80'), { host: 'fe80::1%eth0', port: 80 })
    })

    it('rejects malformed addresses with a clear message', () => {
      const cases: Array<[string, RegExp]> = [
        ['127.0.0.1', /invalid address "127\.0\.0\.1": missing port/],
        ['127.0.0.1:', /missing port/],
        [':7946', /empty host/],
        ['[]:7946', /empty host/],
        ['127.0.0.1:0', /port 0 is out of range 1\.\.65535/],
        ['127.0.0.1:65536', /port 65536 is out of range/],
        ['127.0.0.1:99999', /out of range/],
        ['127.0.0.1:123456', /not a number/],
        ['127.0.0.1:80a', /port "80a" is not a number/],
        ['127.0.0.1:-1', /not a number/],
        ['127.0.0.1: 80', /not a number/],
        ['::1:7946', /IPv6 host must be bracketed/],
        ['::1', /IPv6 host must be bracketed/],
        ['[::1]', /missing port/],
        ['[::1]7946', /expected ":"/],
        ['[::1:7946', /missing "\]"/],
        ['[not-v6]:7946', /not an IPv6 address/],
        ['bad host:7946', /not a valid host/],
        ['', /missing port/],
      ]
      for (const [input, pattern] of cases) {
        assert.throws(() => parseAddress(input), pattern, `input ${JSON.stringify(input)}`)
      }
    })

    it('formats IPv4, names and IPv6 (bracketed once), and round-trips', () => {
      assert.equal(formatAddress('127.0.0.1', 7946), '127.0.0.1:7946')
      assert.equal(formatAddress('localhost', 80), 'localhost:80')
      assert.equal(formatAddress('::1', 7946), '[::1]:7946')
      assert.equal(formatAddress('[::1]', 7946), '[::1]:7946')
      assert.equal(formatAddress('0.0.0.0', 0), '0.0.0.0:0')
      for (const s of ['10.1.2.3:1', '[::1]:65535', 'a.b:7946', '[fe80::1%eth0]:5']) {
        const { host, port } = parseAddress(s)
        assert.equal(formatAddress(host, port), s)
      }
      assert.throws(() => formatAddress('', 1), /empty host/)
      assert.throws(() => formatAddress('127.0.0.1', 70000), /port 70000/)
      assert.throws(() => formatAddress('127.0.0.1', 1.5), /port 1\.5/)
    })
  })

  it('two transports on 127.0.0.1 port 0 exchange datagrams both ways and report the bound port', async () => {
    const a = track(await createUdpTransport({ host: '127.0.0.1', port: 0 }))
    const b = track(await createUdpTransport({ host: '127.0.0.1', port: 0 }))
    assert.match(a.address, /^127\.0\.0\.1:\d+$/)
    assert.notEqual(portOf(a.address), 0)
    assert.notEqual(portOf(b.address), 0)
    assert.notEqual(a.address, b.address)
    assert.equal(a.family, 'udp4')

    const atA: Array<[string, string]> = []
    const atB: Array<[string, string]> = []
    a.onMessage((from, data) => atA.push([from, Buffer.from(data).toString()]))
    b.onMessage((from, data) => atB.push([from, Buffer.from(data).toString()]))

    a.send(b.address, Buffer.from('ping'))
    await waitFor(() => atB.length === 1, 'b to receive ping')
    assert.deepEqual(atB[0], [a.address, 'ping'])

    // answer to the reported sender address
    b.send(atB[0]![0], new TextEncoder().encode('ack'))
    await waitFor(() => atA.length === 1, 'a to receive ack')
    assert.deepEqual(atA[0], [b.address, 'ack'])

    await waitFor(() => a.stats.sent === 1 && b.stats.sent === 1, 'send callbacks')
    assert.equal(a.stats.bytesSent, 4)
    assert.equal(b.stats.bytesReceived, 4)
    assert.equal(b.stats.received, 1)
    assert.equal(a.stats.bytesReceived, 3)
    assert.equal(a.stats.sendErrors, 0)
  })

  it('works over IPv6 on [::1]', async function () {
    let a: UdpTransport
    try {
      a = track(await createUdpTransport({ host: '::1', port: 0 }))
    } catch (err) {
      if ((err as { code?: string }).code === 'EADDRNOTAVAIL') {
        console.log(`      skipping: cannot bind ::1 on this machine (${(err as Error).message})`)
        this.skip()
      }
      throw err
    }
    const b = track(await createUdpTransport({ host: '[::1]', port: 0 }))
    assert.match(a.address, /^\[::1\]:\d+$/)
    assert.equal(a.family, 'udp6')
    const atA: string[] = []
    const atB: string[] = []
    a.onMessage((from, data) => atA.push(`${from} ${Buffer.from(data).toString()}`))
    b.onMessage((from, data) => atB.push(`${from} ${Buffer.from(data).toString()}`))
    a.send(b.address, Buffer.from('hello6'))
    await waitFor(() => atB.length === 1, 'b to receive over IPv6')
    assert.equal(atB[0], `${a.address} hello6`)
    b.send(a.address, Buffer.from('back6'))
    await waitFor(() => atA.length === 1, 'a to receive over IPv6')
    assert.equal(atA[0], `${b.address} back6`)
  })

  it("a dual-stack '::' socket receives from a udp4 sender, reports it as IPv4, and answers it", async () => {
    const dual = track(await createUdpTransport({ host: '::', port: 0 }))
    const v4 = track(await createUdpTransport({ host: '127.0.0.1', port: 0 }))
    assert.match(dual.address, /^\[::\]:\d+$/)
    const atDual: string[] = []
    const atV4: string[] = []
    dual.onMessage((from, data) => atDual.push(`${from} ${Buffer.from(data).toString()}`))
    v4.onMessage((from, data) => atV4.push(`${from} ${Buffer.from(data).toString()}`))

    v4.send(`127.0.0.1:${portOf(dual.address)}`, Buffer.from('from4'))
    await waitFor(() => atDual.length === 1, 'dual-stack socket to receive from udp4')
    assert.equal(atDual[0], `127.0.0.1:${portOf(v4.address)} from4`)

    // the dual-stack socket sends to a plain IPv4 address (mapped internally)
    dual.send(v4.address, Buffer.from('to4'))
    await waitFor(() => atV4.length === 1, 'udp4 socket to receive from dual-stack')
    assert.equal(atV4[0], `127.0.0.1:${portOf(dual.address)} to4`)
    assert.equal(dual.stats.sendErrors, 0)
  })

  it('rejects a bind conflict with a message naming the address and the cause', async () => {
    const a = track(await createUdpTransport({ host: '127.0.0.1', port: 0 }))
    const port = portOf(a.address)
    await assert.rejects(
      createUdpTransport({ host: '127.0.0.1', port }),
      (err: Error & { code?: string }) => {
        assert.match(err.message, new RegExp(`^cannot bind UDP 127\\.0\\.0\\.1:${port}: address in use`))
        assert.equal(err.code, 'EADDRINUSE')
        return true
      },
    )
    // the original socket is unaffected
    const b = track(await createUdpTransport({ host: '127.0.0.1', port: 0 }))
    let got = 0
    a.onMessage(() => got++)
    b.send(a.address, Buffer.from('x'))
    await waitFor(() => got === 1, 'a to still receive after the failed bind')
  })

  it('rejects bad bind options with a clear message', async () => {
    await assert.rejects(createUdpTransport({ host: '127.0.0.1', port: 70000 }), /cannot bind UDP 127\.0\.0\.1:70000: port must be/)
    await assert.rejects(createUdpTransport({ host: '127.0.0.1', port: -1 }), /cannot bind UDP .*port must be/)
    // an address that is not on this machine (TEST-NET-1, never contacted: bind only)
    await assert.rejects(createUdpTransport({ host: '192.0.2.1', port: 0 }), /cannot bind UDP 192\.0\.2\.1:0: address not available/)
  })

  it('counts a throwing handler and keeps the socket working', async () => {
    const a = track(await createUdpTransport({ host: '127.0.0.1', port: 0 }))
    const b = track(await createUdpTransport({ host: '127.0.0.1', port: 0 }))
    const seen: string[] = []
    b.onMessage((_from, data) => {
      const text = Buffer.from(data).toString()
      seen.push(text)
      if (text === 'boom') throw new Error('handler failure')
    })
    a.send(b.address, Buffer.from('boom'))
    await waitFor(() => b.stats.handlerErrors === 1, 'the handler error to be counted')
    a.send(b.address, Buffer.from('after'))
    await waitFor(() => seen.length === 2, 'a message after the handler error')
    assert.deepEqual(seen, ['boom', 'after'])
    assert.equal(b.stats.received, 2)
    assert.equal(b.stats.handlerErrors, 1)
  })

  it('never throws from send: bad addresses and family mismatches are counted', async () => {
    const a = track(await createUdpTransport({ host: '127.0.0.1', port: 0 }))
    const b = track(await createUdpTransport({ host: '127.0.0.1', port: 0 }))
    let got = 0
    b.onMessage(() => got++)
    for (const bad of ['nonsense', '127.0.0.1:0', '127.0.0.1:99999', '::1:7946', '[::1]:7946', '']) {
      assert.doesNotThrow(() => a.send(bad, Buffer.from('x')))
    }
    assert.equal(a.stats.sendErrors, 6)
    // the same bad address again comes from the cache and is counted again
    a.send('nonsense', Buffer.from('x'))
    assert.equal(a.stats.sendErrors, 7)
    // a datagram too large for UDP fails asynchronously and is counted
    a.send(b.address, new Uint8Array(70_000))
    await waitFor(() => a.stats.sendErrors === 8, 'the oversize send error')
    a.send(b.address, Buffer.from('fine'))
    await waitFor(() => got === 1, 'a good send after the errors')
    assert.equal(a.stats.sent, 1)
  })

  it('close is idempotent, and sends after close are ignored', async () => {
    const a = await createUdpTransport({ host: '127.0.0.1', port: 0 })
    const b = track(await createUdpTransport({ host: '127.0.0.1', port: 0 }))
    let got = 0
    b.onMessage(() => got++)
    const first = a.close()
    const second = a.close()
    await Promise.all([first, second])
    await a.close()
    assert.equal(a.closed, true)
    assert.doesNotThrow(() => a.send(b.address, Buffer.from('late')))
    assert.deepEqual(
      [a.stats.sent, a.stats.sendErrors, a.stats.bytesSent],
      [0, 0, 0],
    )
    // the port is free again once close resolved
    const again = track(await createUdpTransport({ host: '127.0.0.1', port: portOf(a.address) }))
    assert.equal(again.address, a.address)
    // the late send was dropped, not queued: nothing reaches b over the next 50 ms
    await holdsFor(() => got === 0, 50, 'b receiving nothing after the late send')
    assert.equal(got, 0)
  })

  it('a socket error event after bind is counted, not thrown', async () => {
    const a = track(await createUdpTransport({ host: '127.0.0.1', port: 0 }))
    // reach the socket the way a kernel error would arrive: an 'error' event
    const socket = (a as unknown as { socket: dgram.Socket }).socket
    assert.ok(socket instanceof dgram.Socket)
    socket.emit('error', new Error('simulated socket failure'))
    assert.equal(a.stats.socketErrors, 1)
    const b = track(await createUdpTransport({ host: '127.0.0.1', port: 0 }))
    let got = 0
    a.onMessage(() => got++)
    b.send(a.address, Buffer.from('still alive'))
    await waitFor(() => got === 1, 'a to keep receiving after a socket error')
  })

  it('uses the defaults 0.0.0.0 and 7946 when nothing is given (or reports why not)', async () => {
    try {
      const t = track(await createUdpTransport())
      assert.equal(t.address, '0.0.0.0:7946')
    } catch (err) {
      // another process on this machine may hold 7946: the message must say so
      assert.match((err as Error).message, /^cannot bind UDP 0\.0\.0\.0:7946: /)
    }
  })
})
