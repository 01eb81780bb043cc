import type { Scenario } from '../lib/scenario.js'
import { simScenario } from './sim.js'
import { udpScenario } from './udp.js'
import { serfScenario } from './serf.js'
import { discoveryScenario } from './discovery.js'
import { healthScenario } from './health.js'
import { planesScenario } from './planes.js'
import { configScenario } from './config.js'
import { httpScenario } from './http.js'
import { dnsScenario } from './dns.js'
import { coordinatesScenario } from './coordinates.js'
import { embedScenario } from './embed.js'
import { faultsScenario } from './faults.js'
import { tailScenario } from './tail.js'

/** every scenario, by the name used on the command line */
export const scenarios: Record<string, Scenario> = {
  sim: simScenario,
  udp: udpScenario,
  serf: serfScenario,
  discovery: discoveryScenario,
  health: healthScenario,
  planes: planesScenario,
  config: configScenario,
  http: httpScenario,
  dns: dnsScenario,
  coordinates: coordinatesScenario,
  embed: embedScenario,
  faults: faultsScenario,
  tail: tailScenario,
}

/** what `npm run bench` runs with no arguments */
export const defaultSuite: string[] = ['sim', 'udp', 'serf', 'discovery']
