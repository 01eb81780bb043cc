/**
 * The Vivaldi client against Serf's own coordinate tests (the same numbers),
 * the payload that carries a coordinate beside acks, and a small
 * pure simulation (Serf's grid) that converges.
 */
import assert from 'node:assert/strict'
import { decodeCoordinate, encodeCoordinate } from '../../lib/coordinates/codec.js'
import { applyForce, distance, newCoordinate, SERF_VIVALDI, VivaldiClient, type Coordinate, type VivaldiConfig } from '../../lib/coordinates/vivaldi.js'
import { CHANNELS } from '../../lib/swim/channels.js'
import { Rng } from '../../lib/util/rng.js'

const close = (a: number, b: number, what = '') => assert.ok(Math.abs(a - b) < 1e-9, `${what} ${a} != ${b}`)
const cfg = (o: Partial<VivaldiConfig>): VivaldiConfig => ({ ...SERF_VIVALDI, ...o })
const at = (config: VivaldiConfig, vec: number[], extra: Partial<Coordinate> = {}): Coordinate => ({ ...newCoordinate(config), vec, ...extra })

describe('coordinates: Vivaldi as Serf computes it', () => {
  it("has Serf's defaults: 8 dimensions, error 1.5, c_e = c_c = 0.25, window 20, height ≥ 10 µs, filter 3, ρ 150", () => {
    assert.deepEqual({ ...SERF_VIVALDI }, { dimensionality: 8, errorMax: 1.5, ce: 0.25, cc: 0.25, adjustmentWindow: 20, heightMin: 10e-6, latencyFilterSize: 3, gravityRho: 150 })
    const c = new VivaldiClient().coordinate()
    assert.deepEqual(c, { vec: [0, 0, 0, 0, 0, 0, 0, 0], error: 1.5, adjustment: 0, height: 10e-6 })
  })

  it('distance: Euclidean plus heights, adjustments only when the sum stays positive (TestCoordinate_DistanceTo)', () => {
    const config = cfg({ dimensionality: 3, heightMin: 0 })
    const c1 = at(config, [-0.5, 1.3, 2.4])
    const c2 = at(config, [1.2, -2.3, 3.4])
    close(distance(c1, c1), 0)
    close(distance(c1, c2), distance(c2, c1))
    close(distance(c1, c2), 4.104875150354758)
    c1.adjustment = -1e6
    close(distance(c1, c2), 4.104875150354758)
    c1.adjustment = 0.1
    c2.adjustment = 0.2
    close(distance(c1, c2), 4.104875150354758 + 0.3)
    c1.height = 0.7
    c2.height = 0.1
    close(distance(c1, c2), 4.104875150354758 + 0.3 + 0.8)
  })

  it('applyForce: direction, magnitude, height, a random direction for coincident points (TestCoordinate_ApplyForce)', () => {
    const rng = new Rng(1)
    const random = () => rng.float()
    let config = cfg({ dimensionality: 3, heightMin: 0 })
    let origin = newCoordinate(config)
    const above = at(config, [0, 0, 2.9])
    let c = applyForce(config, origin, 5.3, above, random)
    assert.deepEqual(c.vec, [0, 0, -5.3])
    c = applyForce(config, c, 2.0, at(config, [3.4, 0, -5.3]), random)
    assert.deepEqual(c.vec.map((v) => Math.round(v * 1e9) / 1e9), [-2, 0, -5.3])
    c = applyForce(config, origin, 1.0, origin, random)
    close(distance(origin, c), 1.0, 'one unit in a random direction')
    config = cfg({ dimensionality: 3 })
    origin = newCoordinate(config)
    c = applyForce(config, origin, 5.3, above, random)
    assert.deepEqual(c.vec, [0, 0, -5.3])
    close(c.height, config.heightMin + (5.3 * config.heightMin) / 2.9)
    c = applyForce(config, origin, -5.3, above, random)
    assert.deepEqual(c.vec, [0, 0, 5.3])
    close(c.height, config.heightMin)
  })

  it('update: a peer right above and an RTT longer than expected pushes us away (TestClient_Update)', () => {
    const config = cfg({ dimensionality: 3 })
    const client = new VivaldiClient(config, () => 0.5)
    const other = at(config, [0, 0, 0.001])
    const c = client.update('node', other, 2 * 0.001)!
    assert.ok(c.vec[2]! < 0, `z ${c.vec[2]} should be < 0`)
    assert.equal(client.stats.updates, 1)
  })

  it('refuses RTTs out of range (negative, over 10 s) and peers of other dimensions, leaving the coordinate unchanged', () => {
    const config = cfg({ dimensionality: 3 })
    const client = new VivaldiClient(config)
    const other = at(config, [0, 0, 0.001])
    const before = client.distanceTo(other)
    for (const rtt of [-35, 11, Number.NaN, Infinity]) assert.equal(client.update('node', other, rtt), undefined)
    assert.equal(client.update('node', at(config, [0, 0, 0, 1]), 0.01), undefined)
    assert.equal(client.update('node', at(config, [0, 0, Number.NaN]), 0.01), undefined)
    assert.equal(client.distanceTo(other), before)
    assert.equal(client.stats.rejected, 6)
  })

  it('takes the median of the last three samples of a peer (a glitch is never seen)', () => {
    const filter = (client: VivaldiClient, rtt: number) => (client as unknown as { latencyFilter(n: string, r: number): number }).latencyFilter('alice', rtt)
    const client = new VivaldiClient()
    assert.equal(filter(client, 0.201), 0.201)
    assert.equal(filter(client, 0.2), 0.201)
    assert.equal(filter(client, 0.207), 0.201)
    assert.equal(filter(client, 1.9), 0.207)
    assert.equal(filter(client, 0.203), 0.207)
    assert.equal(filter(client, 0.199), 0.203)
  })

  it("converges on Serf's 5 × 5 grid (10 ms spacing): mean relative error under 2 % after 1000 rounds", () => {
    const rng = new Rng(7)
    const n = 25
    const clients = Array.from({ length: n }, () => new VivaldiClient(SERF_VIVALDI, () => rng.float()))
    const truth = (i: number, j: number) => 0.01 * Math.hypot((i % 5) - (j % 5), Math.floor(i / 5) - Math.floor(j / 5))
    for (let cycle = 0; cycle < 1000; cycle++) {
      for (let i = 0; i < n; i++) {
        const j = rng.int(n)
        if (j === i) continue
        clients[i]!.update(`n${j}`, clients[j]!.coordinate(), truth(i, j))
      }
    }
    let sum = 0
    let pairs = 0
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const est = distance(clients[i]!.coordinate(), clients[j]!.coordinate())
        sum += Math.abs(est - truth(i, j)) / truth(i, j)
        pairs++
      }
    }
    assert.ok(sum / pairs < 0.02, `mean relative error ${(100 * sum) / pairs} %`)
  })

  it('travels as a user payload on the coordinate channel: encodes and decodes, refuses malformed and non-finite bytes', () => {
    const c: Coordinate = { vec: [0.001, -0.002, 0, 0, 0, 0, 0, 0.5], error: 0.3, adjustment: -0.0001, height: 0.0002 }
    const bytes = encodeCoordinate('agent-é', c)
    assert.equal(bytes[0], CHANNELS.coordinate)
    assert.equal(bytes.length, 2 + 4 * 11 + Buffer.byteLength('agent-é'), 'single precision: 4 bytes a value')
    // single precision: each value as the nearest float32
    const single: Coordinate = { vec: c.vec.map(Math.fround), error: Math.fround(c.error), adjustment: Math.fround(c.adjustment), height: Math.fround(c.height) }
    assert.deepEqual(decodeCoordinate(bytes), { name: 'agent-é', coordinate: single })
    for (const [i, v] of c.vec.entries()) assert.ok(Math.abs(single.vec[i]! - v) <= 1e-7 * Math.abs(v), `dimension ${i} within float32 precision`)
    assert.equal(decodeCoordinate(bytes.subarray(0, 2 + 4 * 11)), undefined, 'no name')
    assert.equal(decodeCoordinate(bytes.subarray(0, 20)), undefined, 'truncated')
    const other = bytes.slice()
    other[0] = CHANNELS.registry
    assert.equal(decodeCoordinate(other), undefined, 'another channel')
    const nan = bytes.slice()
    new DataView(nan.buffer).setFloat32(2, Number.NaN)
    assert.equal(decodeCoordinate(nan), undefined, 'NaN')
    const infinite = encodeCoordinate('x', { ...c, error: 1e39 })
    assert.equal(decodeCoordinate(infinite), undefined, 'beyond float32: infinite')
    const negative = encodeCoordinate('x', { ...c, height: -1 })
    assert.equal(decodeCoordinate(negative), undefined, 'negative height')
    assert.equal(decodeCoordinate(new Uint8Array([CHANNELS.coordinate, 0, 65])), undefined, 'no dimensions')
  })

  it('still reads the double-precision format (8 bytes a value, no flag)', () => {
    const c: Coordinate = { vec: [0.001, -0.002, 0, 0, 0, 0, 0, 0.5], error: 0.3, adjustment: -0.0001, height: 0.0002 }
    const name = Buffer.from('old-agent')
    const bytes = new Uint8Array(2 + 8 * 11 + name.length)
    const view = new DataView(bytes.buffer)
    bytes[0] = CHANNELS.coordinate
    bytes[1] = 8
    ;[...c.vec, c.error, c.adjustment, c.height].forEach((v, i) => view.setFloat64(2 + 8 * i, v))
    bytes.set(name, 2 + 8 * 11)
    assert.deepEqual(decodeCoordinate(bytes), { name: 'old-agent', coordinate: c })
    assert.equal(decodeCoordinate(bytes.subarray(0, 2 + 8 * 11)), undefined, 'no name')
  })
})
