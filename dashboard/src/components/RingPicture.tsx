// The hash ring as a donut: one arc per node, its length the node's share.
import type { NodeState } from '../api/types';
import { formatPercent } from '../format';

export const RING_COLOURS = ['#1677ff', '#52c41a', '#fa8c16', '#722ed1', '#13c2c2', '#eb2f96', '#faad14', '#2f54eb'];

export interface Arc {
  id: string;
  start: number;
  end: number;
}

/** Start and end angles (radians, clockwise from 12 o'clock) of each node's share. */
export function arcs(nodes: Pick<NodeState, 'id' | 'ring_share'>[]): Arc[] {
  const total = nodes.reduce((sum, n) => sum + Math.max(0, n.ring_share), 0) || 1;
  let at = 0;
  return nodes.map((n) => {
    const start = at;
    at += (Math.max(0, n.ring_share) / total) * 2 * Math.PI;
    return { id: n.id, start, end: at };
  });
}

function arcPath({ start, end }: Arc, r: number, c: number): string {
  const point = (a: number) => `${c + r * Math.sin(a)} ${c - r * Math.cos(a)}`;
  if (end - start >= 2 * Math.PI - 1e-9) {
    return `M ${point(0)} A ${r} ${r} 0 1 1 ${point(Math.PI)} A ${r} ${r} 0 1 1 ${point(0)}`;
  }
  const large = end - start > Math.PI ? 1 : 0;
  return `M ${point(start)} A ${r} ${r} 0 ${large} 1 ${point(end)}`;
}

export function RingPicture({ nodes, size = 240 }: { nodes: NodeState[]; size?: number }) {
  const c = size / 2;
  const r = size / 2 - 24;
  return (
    <svg width={size} height={size} role="img" aria-label="hash ring: each node's share" data-testid="ring-picture">
      {arcs(nodes).map((arc, i) => (
        <path
          key={arc.id}
          d={arcPath(arc, r, c)}
          fill="none"
          stroke={RING_COLOURS[i % RING_COLOURS.length]}
          strokeWidth={28}
        >
          <title>{`${arc.id}: ${formatPercent((arc.end - arc.start) / (2 * Math.PI))}`}</title>
        </path>
      ))}
      <text x={c} y={c} textAnchor="middle" dominantBaseline="middle" fontSize={14}>
        {nodes.length} nodes
      </text>
    </svg>
  );
}
