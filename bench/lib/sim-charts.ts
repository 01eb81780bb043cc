/**
 * Vega-lite specs (inline data) of the `sim` bench scenario.
 */
import type { Chart } from './scenario.js'

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json'
/** long series names: legends must not truncate them */
const CONFIG = { legend: { labelLimit: 360 }, title: { fontSize: 13 } }

export interface DetectionPoint {
  n: number
  metric: string
  seconds: number
}

/** per-trial crash detection times, one box per (N, metric) */
export function detectionChart(points: DetectionPoint[]): Chart {
  return {
    name: 'crash-detection',
    spec: {
      $schema: SCHEMA,
      config: CONFIG,
      title: { text: 'Crash detection time vs cluster size', subtitle: 'virtual seconds after the crash; one point per trial' },
      width: 420,
      height: 260,
      data: { values: points },
      layer: [
        {
          mark: { type: 'boxplot', extent: 'min-max', opacity: 0.5 },
          encoding: {
            x: { field: 'n', type: 'ordinal', title: 'nodes (N)' },
            xOffset: { field: 'metric', type: 'nominal' },
            y: { field: 'seconds', type: 'quantitative', title: 'virtual seconds after the crash' },
            color: { field: 'metric', type: 'nominal', title: null },
          },
        },
        {
          mark: { type: 'point', filled: true, size: 18, opacity: 0.8 },
          encoding: {
            x: { field: 'n', type: 'ordinal' },
            xOffset: { field: 'metric', type: 'nominal' },
            y: { field: 'seconds', type: 'quantitative' },
            color: { field: 'metric', type: 'nominal', title: null },
          },
        },
      ],
    },
  }
}

export interface CurvePoint {
  round: number
  percent: number
  series: string
}

/** % of nodes holding a meta update vs gossip rounds since it was made */
export function disseminationChart(points: CurvePoint[], focus: string): Chart {
  return {
    name: 'dissemination',
    spec: {
      $schema: SCHEMA,
      config: CONFIG,
      title: { text: 'Dissemination of one meta update: % of nodes holding it vs gossip rounds', subtitle: focus },
      width: 460,
      height: 260,
      data: { values: points },
      mark: { type: 'line', point: true, interpolate: 'monotone' },
      encoding: {
        x: { field: 'round', type: 'quantitative', title: 'gossip rounds since the update (virtual time / 200 ms)' },
        y: { field: 'percent', type: 'quantitative', title: '% of nodes holding the update', scale: { domain: [0, 100] } },
        color: { field: 'series', type: 'nominal', title: null, scale: { domain: [...new Set(points.map((p) => p.series))] } },
        strokeDash: {
          condition: { test: "indexof(datum.series, 'model') >= 0", value: [4, 3] },
          value: [1, 0],
        },
      },
    },
  }
}

export interface TrafficPoint {
  n: number
  metric: string
  value: number
}

/** steady-state send rate per node vs N, one panel per metric (their units differ) */
export function trafficChart(points: TrafficPoint[]): Chart {
  return {
    name: 'steady-traffic',
    spec: {
      $schema: SCHEMA,
      config: CONFIG,
      title: { text: 'Steady-state traffic sent per node', subtitle: 'per virtual second, after convergence, over whole push-pull periods' },
      data: { values: points },
      facet: { column: { field: 'metric', type: 'nominal', title: null, sort: [...new Set(points.map((p) => p.metric))] } },
      spec: {
        width: 180,
        height: 200,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'n', type: 'quantitative', title: 'nodes (N)', scale: { type: 'log' }, axis: { values: [...new Set(points.map((p) => p.n))] } },
          y: { field: 'value', type: 'quantitative', title: 'per node per second', scale: { zero: true } },
        },
      },
      resolve: { scale: { y: 'independent' } },
    },
  }
}

export interface EfficiencyPoint {
  n: number
  phase: string
  usPerNodeVs: number
}

/** wall µs per node per virtual second, join phase and steady state */
export function efficiencyChart(points: EfficiencyPoint[]): Chart {
  return {
    name: 'simulator-efficiency',
    spec: {
      $schema: SCHEMA,
      config: CONFIG,
      title: 'Simulator cost: wall µs per node per virtual second',
      width: 420,
      height: 220,
      data: { values: points },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'n', type: 'quantitative', title: 'nodes (N)', scale: { type: 'log' } },
        y: { field: 'usPerNodeVs', type: 'quantitative', title: 'wall µs / (node · virtual s)', scale: { type: 'log' } },
        color: { field: 'phase', type: 'nominal', title: null },
      },
    },
  }
}
