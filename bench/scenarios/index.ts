import type { Scenario } from '../lib/scenario.js'
import { simScenario } from './sim.js'
import { udpScenario } from './udp.js'
import { serfScenario } from './serf.js'

/** every scenario, by the name used on the command line */
export const scenarios: Record<string, Scenario> = {
  sim: simScenario,
  udp: udpScenario,
  serf: serfScenario,
}

/** what `npm run bench` runs with no arguments */
export const defaultSuite: string[] = ['sim', 'udp', 'serf']
