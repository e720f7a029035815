// Draws a machine model (machine-model.js) as SVG, top to bottom: one row per layer, the substates of a
// compound state as boxes inside it. Edges: to the next row, a curve from bottom to top; between
// neighbours in a row, a straight arrow; anything else (skipping rows, going back up) runs in a lane
// outside the boxes, on the side nearer its ends, so no edge crosses a box. Labels take the first
// spot along their edge that covers no box and no other label. Readable, not beautiful.
import { s } from './dom.js';

const NODE_W = 150;
const ATOM_H = 36;
const HEAD_H = 26;
const SUB_H = 26;
const SUB_GAP = 8;
const COL_GAP = 150;
const ROW_GAP = 96;
const LANE_GAP = 18;
const MARGIN = 16;
const FONT = 11;
const LINE_H = 13;
const LABEL_LINE = 24;
/** Lane edges get one of these colours (style.css `.lane-N`), their label too, so each label names its line. */
const LANE_COLOURS = 6;

const boxHeight = (state) => (state.substates.length === 0 ? ATOM_H : HEAD_H + state.substates.length * (SUB_H + SUB_GAP));

/** Event labels packed into lines of about {@link LABEL_LINE} characters: `SHUTDOWN · STOP`. */
function labelLines(labels) {
  const lines = [];
  for (const label of labels) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + 3 + label.length <= LABEL_LINE) lines[last] += ` · ${label}`;
    else lines.push(label);
  }
  return lines;
}

/** Point at `t` on a cubic Bézier curve. */
function bezier(p, t) {
  const u = 1 - t;
  const f = (a, b, c, d) => u * u * u * a + 3 * u * u * t * b + 3 * u * t * t * c + t * t * t * d;
  return { x: f(p[0].x, p[1].x, p[2].x, p[3].x), y: f(p[0].y, p[1].y, p[2].y, p[3].y) };
}

/** Places boxes: every drawn path (states and substates) -> {x, y, w, h, row, index, last}. */
function layout(model) {
  const rows = [];
  for (const state of model.states) (rows[state.layer] ??= []).push(state);
  const width = (row) => row.length * NODE_W + (row.length - 1) * COL_GAP;
  const widest = Math.max(...rows.map(width));
  const boxes = new Map();
  const rowSpans = [];
  let y = 0;
  rows.forEach((row, r) => {
    const height = Math.max(...row.map(boxHeight));
    let x = (widest - width(row)) / 2;
    row.forEach((state, index) => {
      const h = boxHeight(state);
      const top = y + (height - h) / 2;
      boxes.set(state.path, { x, y: top, w: NODE_W, h, row: r, index, last: index === row.length - 1 });
      state.substates.forEach((sub, i) => {
        boxes.set(sub.path, { x: x + 14, y: top + HEAD_H + i * (SUB_H + SUB_GAP), w: NODE_W - 28, h: SUB_H, row: r, index, last: index === row.length - 1, sub: true });
      });
      x += NODE_W + COL_GAP;
    });
    rowSpans.push({ top: y, bottom: y + height });
    y += height + ROW_GAP;
  });
  return { boxes, rowSpans, width: widest, height: y - ROW_GAP };
}

/** Decides each edge's kind and the box sides it leaves and enters by. */
function classify(model, boxes, width) {
  return model.edges.map((edge) => {
    const a = boxes.get(edge.from);
    const b = boxes.get(edge.to);
    const r = { edge, a, b, lines: labelLines(edge.labels) };
    if (b.row === a.row + 1) Object.assign(r, { kind: 'next', sides: ['bottom', 'top'] });
    else if (b.row === a.row && Math.abs(a.index - b.index) === 1) Object.assign(r, { kind: 'row', sides: a.index < b.index ? ['right', 'left'] : ['left', 'right'] });
    else {
      // A lane on the side nearer both ends; a box leaves by that side only if it is the end of its row.
      const lane = a.x + a.w / 2 + b.x + b.w / 2 <= width ? 'left' : 'right';
      const down = b.row >= a.row;
      const onEdge = (box) => (lane === 'left' ? box.index === 0 : box.last);
      Object.assign(r, { kind: 'lane', lane, sides: [onEdge(a) ? lane : down ? 'bottom' : 'top', onEdge(b) ? lane : down ? 'top' : 'bottom'] });
    }
    return r;
  });
}

/** Spreads the ends sharing one side of a box, ordered by where the other end is. */
function anchor(routes) {
  const ends = new Map();
  for (const r of routes) {
    for (const [box, side, other, isFrom] of [[r.a, r.sides[0], r.b, true], [r.b, r.sides[1], r.a, false]]) {
      const key = `${box.x},${box.y},${side}`;
      if (!ends.has(key)) ends.set(key, { box, side, list: [] });
      ends.get(key).list.push({ r, other, isFrom });
    }
  }
  for (const { box, side, list } of ends.values()) {
    const vertical = side === 'left' || side === 'right';
    list.sort((p, q) => (vertical ? p.other.y - q.other.y : p.other.x - q.other.x));
    list.forEach(({ r, isFrom }, i) => {
      const f = (i + 1) / (list.length + 1);
      const point = vertical
        ? { x: side === 'left' ? box.x : box.x + box.w, y: box.y + box.h * f }
        : { x: box.x + box.w * f, y: side === 'top' ? box.y : box.y + box.h };
      r[isFrom ? 'start' : 'end'] = point;
    });
  }
}

/** Paths and label candidates; lanes run outside the widest row, the longest ones furthest out. */
function route(routes, rowSpans, width) {
  const lanes = { left: 0, right: 0 };
  const rowsSpanned = (r) => Math.abs(r.a.row - r.b.row);
  let gapOffset = 0;
  for (const r of [...routes].sort((p, q) => rowsSpanned(p) - rowsSpanned(q))) {
    const { start: p, end: q } = r;
    if (r.kind === 'next') {
      const dy = (q.y - p.y) / 2;
      const curve = [p, { x: p.x, y: p.y + dy }, { x: q.x, y: q.y - dy }, q];
      r.d = `M${p.x},${p.y} C${p.x},${p.y + dy} ${q.x},${q.y - dy} ${q.x},${q.y}`;
      r.candidates = [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8].map((t) => bezier(curve, t));
    } else if (r.kind === 'row') {
      r.d = `M${p.x},${p.y} L${q.x},${q.y}`;
      r.candidates = [0.5, 0.35, 0.65].map((t) => ({ x: p.x + (q.x - p.x) * t, y: p.y + (q.y - p.y) * t }));
    } else {
      const out = r.lane === 'left' ? -1 : 1;
      const x = r.lane === 'left' ? -LANE_GAP * ++lanes.left : width + LANE_GAP * ++lanes.right;
      r.colour = `lane-${(lanes.left + lanes.right - 1) % LANE_COLOURS}`;
      // From a box that is not at the end of its row: into the gap beside its row, then out to the lane.
      const toLane = (point, side, box) => {
        if (side === r.lane) return [point, { x, y: point.y }];
        const span = rowSpans[box.row];
        gapOffset = (gapOffset + 1) % 4;
        const y = side === 'bottom' ? span.bottom + 10 + 6 * gapOffset : span.top - 10 - 6 * gapOffset;
        return [point, { x: point.x, y }, { x, y }];
      };
      const points = [...toLane(p, r.sides[0], r.a), ...toLane(q, r.sides[1], r.b).reverse()];
      r.d = `M${points.map((pt) => `${pt.x},${pt.y}`).join(' L')}`;
      const y1 = points[points.length - 1 - (r.sides[1] === r.lane ? 1 : 2)].y;
      const y0 = points[r.sides[0] === r.lane ? 1 : 2].y;
      r.candidates = [0.5, 0.3, 0.7, 0.15, 0.85].map((t) => ({ x, y: y0 + (y1 - y0) * t, anchor: out > 0 ? 'start' : 'end' }));
    }
  }
  return lanes;
}

/** Puts each label at its first candidate that overlaps nothing, else at the one overlapping least. */
function placeLabels(routes, boxes) {
  const placed = [...boxes.values()].filter((box) => !box.sub).map((box) => ({ x: box.x - 4, y: box.y - 4, w: box.w + 8, h: box.h + 8 }));
  const overlap = (r) => placed.reduce((sum, o) => sum + Math.max(0, Math.min(r.x + r.w, o.x + o.w) - Math.max(r.x, o.x)) * Math.max(0, Math.min(r.y + r.h, o.y + o.h) - Math.max(r.y, o.y)), 0);
  return routes.map((r) => {
    const w = Math.max(...r.lines.map((line) => line.length)) * FONT * 0.6 + 8;
    const h = r.lines.length * LINE_H + 4;
    const rects = r.candidates.map((c) => ({ x: c.anchor === 'start' ? c.x + 5 : c.anchor === 'end' ? c.x - 5 - w : c.x - w / 2, y: c.y - h / 2, w, h }));
    let best = rects[0];
    let bestOverlap = Infinity;
    for (const rect of rects) {
      const area = overlap(rect);
      if (area < bestOverlap) [best, bestOverlap] = [rect, area];
      if (area === 0) break;
    }
    placed.push(best);
    return { lines: r.lines, rect: best, colour: r.colour };
  });
}

/**
 * The machine as an <svg>. Each state is a `<g class="state" data-state="PATH">`; {@link highlightState}
 * marks the current one.
 */
export function drawMachine(model, current) {
  const { boxes, rowSpans, width, height } = layout(model);
  const routes = classify(model, boxes, width);
  anchor(routes);
  const lanes = route(routes, rowSpans, width);
  const labels = placeLabels(routes, boxes);
  const minX = Math.min(-LANE_GAP * lanes.left - 30, ...labels.map(({ rect }) => rect.x)) - MARGIN;
  const maxX = Math.max(width + LANE_GAP * lanes.right, ...labels.map(({ rect }) => rect.x + rect.w)) + MARGIN;
  const minY = Math.min(-30, ...labels.map(({ rect }) => rect.y)) - MARGIN;
  const maxY = Math.max(height + 30, ...labels.map(({ rect }) => rect.y + rect.h)) + MARGIN;

  const svg = s('svg', {
    class: 'machine',
    viewBox: `${minX} ${minY} ${maxX - minX} ${maxY - minY}`,
    width: maxX - minX,
    height: maxY - minY,
    role: 'img',
    'aria-label': `State machine ${model.id}`,
    'data-testid': 'machine',
  });
  const marker = (id, colour) => s('marker', { id, viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: ['arrowhead', colour] }));
  svg.append(s('defs', null, marker('arrow', null), Array.from({ length: LANE_COLOURS }, (_, i) => marker(`arrow-lane-${i}`, `lane-${i}`))));
  for (const state of model.states) {
    const box = boxes.get(state.path);
    const compound = state.substates.length > 0;
    const group = s('g', { class: ['state', compound && 'compound', state.type === 'final' && 'final'], 'data-state': state.path },
      s('title', null, state.description ? `${state.path}: ${state.description}` : state.path),
      s('rect', { x: box.x, y: box.y, width: box.w, height: box.h, rx: 8 }),
      s('text', { x: box.x + box.w / 2, y: compound ? box.y + 17 : box.y + box.h / 2 + 4, 'text-anchor': 'middle' }, state.key),
    );
    if (state.type === 'final') group.append(s('rect', { class: 'inner', x: box.x + 3, y: box.y + 3, width: box.w - 6, height: box.h - 6, rx: 6 }));
    svg.append(group);
    for (const sub of state.substates) {
      const b = boxes.get(sub.path);
      svg.append(s('g', { class: 'state substate', 'data-state': sub.path }, s('title', null, sub.path), s('rect', { x: b.x, y: b.y, width: b.w, height: b.h, rx: 6 }), s('text', { x: b.x + b.w / 2, y: b.y + b.h / 2 + 4, 'text-anchor': 'middle' }, sub.key)));
    }
  }
  for (const r of routes) svg.append(s('path', { class: ['edge', `edge-${r.kind}`, r.colour], d: r.d, 'marker-end': `url(#${r.colour ? `arrow-${r.colour}` : 'arrow'})`, 'data-from': r.edge.from, 'data-to': r.edge.to }));
  for (const { lines, rect, colour } of labels) {
    svg.append(s('g', { class: ['edge-label', colour] },
      s('rect', { x: rect.x, y: rect.y, width: rect.w, height: rect.h, rx: 3 }),
      lines.map((line, i) => s('text', { x: rect.x + 4, y: rect.y + 2 + LINE_H * (i + 1) - 3 }, line)),
    ));
  }
  const initial = boxes.get(model.initial);
  if (initial) {
    const cx = initial.x + initial.w / 2;
    svg.append(s('circle', { class: 'initial-dot', cx, cy: initial.y - 24, r: 4 }), s('path', { class: 'edge initial', d: `M${cx},${initial.y - 20} L${cx},${initial.y}`, 'marker-end': 'url(#arrow)' }));
  }
  highlightState(svg, current);
  return svg;
}

/** Marks the state `current` (e.g. `connected.idle`) and its parents; clears the previous marks. */
export function highlightState(svg, current) {
  for (const group of svg.querySelectorAll('g.state')) {
    const path = group.getAttribute('data-state');
    group.classList.toggle('current', path === current);
    group.classList.toggle('current-parent', typeof current === 'string' && current.startsWith(`${path}.`));
    if (path === current) group.setAttribute('aria-current', 'true');
    else group.removeAttribute('aria-current');
  }
}
