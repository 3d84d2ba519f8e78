// aiovolume slice viewer: one plane of an (x, y, z) volume, or three orthogonal ones, fetched
// slice by slice from /slice/<layer>/<axis>/<index> (row-major, little-endian; X-Dtype and
// X-Shape headers). No dependencies; drawn on a 2-D canvas with nearest-neighbour scaling.
// Each axis has its own plane (offscreen canvas) and view (zoom, pan relative to its panel).
"use strict";
(function () {
  const TYPED = {
    u1: Uint8Array, i1: Int8Array, u2: Uint16Array, i2: Int16Array, u4: Uint32Array,
    i4: Int32Array, f4: Float32Array, f8: Float64Array, u8: BigUint64Array,
  };
  const AXES = { x: 0, y: 1, z: 2 };
  // the volume axes along the columns and the rows of the displayed plane
  const PLANE = { z: [0, 1], y: [0, 2], x: [1, 2] };
  const MAX_CACHED = 96;

  const $ = (id) => document.getElementById(id);
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  const offs = {};
  for (const a of Object.keys(AXES)) offs[a] = document.createElement("canvas");
  const cache = new Map();

  const state = {
    meta: null, image: null, seg: null, axis: "z", index: { x: 0, y: 0, z: 0 }, layout: "single",
    views: { x: null, y: null, z: null }, shown: { x: null, y: null, z: null },
    contrast: 1, brightness: 0, alpha: 1,
    selected: new Set(), current: null, rendered: null, renders: 0, mouse: null, error: null,
  };

  // the panels on the canvas: one (the active axis) or three (xy | yz over xz)
  function panels() {
    const w = Math.max(1, canvas.clientWidth), h = Math.max(1, canvas.clientHeight);
    if (state.layout === "single") return [{ axis: state.axis, x0: 0, y0: 0, w, h }];
    const hw = Math.floor(w / 2), hh = Math.floor(h / 2);
    return [
      { axis: "z", x0: 0, y0: 0, w: hw, h: hh },
      { axis: "x", x0: hw, y0: 0, w: w - hw, h: hh },
      { axis: "y", x0: 0, y0: hh, w: hw, h: h - hh },
    ];
  }

  function panelAt(mx, my) {
    return panels().find((p) => mx >= p.x0 && my >= p.y0 && mx < p.x0 + p.w && my < p.y0 + p.h) || null;
  }

  // A segment's colour: a 32-bit integer hash of its 64-bit id (low and high words).
  function segColor(lo, hi) {
    let h = (lo ^ Math.imul(hi, 0x9e3779b1)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h = (h ^ (h >>> 16)) >>> 0;
    return [h & 255, (h >>> 8) & 255, (h >>> 16) & 255];
  }

  function idString(lo, hi) {
    return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
  }

  function fetchSlice(name, axis, index) {
    const key = `${name}/${axis}/${index}`;
    if (!cache.has(key)) {
      const pending = (async () => {
        const response = await fetch(`slice/${key}`);
        if (!response.ok) throw new Error(`${key}: ${response.status} ${await response.text()}`);
        const [rows, cols] = response.headers.get("X-Shape").split(",").map(Number);
        const buffer = await response.arrayBuffer();
        const data = new TYPED[response.headers.get("X-Dtype")](buffer);
        const words = data instanceof BigUint64Array ? new Uint32Array(buffer) : null;
        return { rows, cols, data, words };
      })();
      pending.catch(() => cache.delete(key));
      cache.set(key, pending);
      if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value);
    }
    return cache.get(key);
  }

  function compose(off, img, seg) {
    const offctx = off.getContext("2d");
    const plane = img || seg;
    const n = plane.rows * plane.cols;
    if (off.width !== plane.cols || off.height !== plane.rows) {
      off.width = plane.cols;
      off.height = plane.rows;
    }
    const out = offctx.createImageData(plane.cols, plane.rows);
    const px = out.data;
    let low = 0, high = 1;
    if (img) {
      low = state.image.low;
      high = state.image.high === low ? low + 1 : state.image.high;
    }
    const scale = 1 / (high - low), contrast = state.contrast, brightness = state.brightness;
    const alpha = state.alpha, anySelected = state.selected.size > 0;
    let lastLo = -1, lastHi = -1, colour = null, shown = false;
    for (let p = 0; p < n; p++) {
      let r = 0, g = 0, b = 0;
      if (img) {
        const t = ((Number(img.data[p]) - low) * scale - 0.5) * contrast + 0.5 + brightness;
        r = g = b = t <= 0 ? 0 : t >= 1 ? 255 : Math.round(t * 255);
      }
      if (seg) {
        const lo = seg.words[2 * p], hi = seg.words[2 * p + 1];
        if (lo !== 0 || hi !== 0) {
          if (lo !== lastLo || hi !== lastHi) {
            lastLo = lo; lastHi = hi;
            colour = segColor(lo, hi);
            shown = !anySelected || state.selected.has(idString(lo, hi));
          }
          if (shown) {
            r = Math.round(r * (1 - alpha) + colour[0] * alpha);
            g = Math.round(g * (1 - alpha) + colour[1] * alpha);
            b = Math.round(b * (1 - alpha) + colour[2] * alpha);
          }
        }
      }
      const q = 4 * p;
      px[q] = r; px[q + 1] = g; px[q + 2] = b; px[q + 3] = 255;
    }
    offctx.putImageData(out, 0, 0);
  }

  function draw() {
    const w = Math.max(1, canvas.clientWidth), h = Math.max(1, canvas.clientHeight);
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, w, h);
    const tri = state.layout === "tri";
    for (const panel of panels()) {
      const view = state.views[panel.axis];
      if (!state.shown[panel.axis] || !view) continue;
      ctx.save();
      ctx.beginPath();
      ctx.rect(panel.x0, panel.y0, panel.w, panel.h);
      ctx.clip();
      ctx.imageSmoothingEnabled = false;
      const yzoom = view.zoom * aspect(panel.axis);
      ctx.setTransform(view.zoom, 0, 0, yzoom, panel.x0 + view.tx, panel.y0 + view.ty);
      ctx.drawImage(offs[panel.axis], 0, 0);
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      if (tri) {
        // where the other two planes cut this one: ticks just outside the plane's edges, so
        // no voxel is hidden; and which panel the slider moves: a green border
        const [c, r] = PLANE[panel.axis];
        const names = Object.keys(AXES);
        const left = panel.x0 + view.tx, top = panel.y0 + view.ty;
        const right = left + offs[panel.axis].width * view.zoom, bottom = top + offs[panel.axis].height * yzoom;
        const cx = Math.round(left + (state.index[names[c]] + 0.5) * view.zoom) + 0.5;
        const cy = Math.round(top + (state.index[names[r]] + 0.5) * yzoom) + 0.5;
        ctx.strokeStyle = "#ff0";
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(cx, top - 9); ctx.lineTo(cx, top - 1);
        ctx.moveTo(cx, bottom + 1); ctx.lineTo(cx, bottom + 9);
        ctx.moveTo(left - 9, cy); ctx.lineTo(left - 1, cy);
        ctx.moveTo(right + 1, cy); ctx.lineTo(right + 9, cy);
        ctx.stroke();
        ctx.strokeStyle = panel.axis === state.axis ? "#4a6" : "#444";
        ctx.lineWidth = 2;
        ctx.strokeRect(panel.x0 + 1, panel.y0 + 1, panel.w - 2, panel.h - 2);
        ctx.fillStyle = "#ddd";
        ctx.textAlign = "right";
        ctx.fillText(`${panel.axis} = ${state.index[panel.axis]}`, panel.x0 + panel.w - 8, panel.y0 + panel.h - 8);
      }
      ctx.restore();
    }
  }

  function fetchPlane(axis, index) {
    return Promise.all([
      state.image ? fetchSlice(state.image.name, axis, index) : null,
      state.seg ? fetchSlice(state.seg.name, axis, index) : null,
    ]);
  }

  let renderSeq = 0;
  async function render() {
    const seq = ++renderSeq;
    const axis = state.axis, index = state.index[axis];
    const wanted = panels().map((p) => [p.axis, state.index[p.axis]]);
    try {
      const planes = await Promise.all(wanted.map(([a, i]) => fetchPlane(a, i)));
      if (seq !== renderSeq) return;
      wanted.forEach(([a, i], k) => {
        const [img, seg] = planes[k];
        state.shown[a] = { axis: a, index: i, img, seg };
        if (!state.views[a]) fitView(a);
        compose(offs[a], img, seg);
      });
      state.current = state.shown[axis];
      draw();
      state.rendered = `${axis}:${index}`;
      state.renders += 1;
      showHover();
    } catch (err) {
      state.error = String(err);
      $("hover").textContent = state.error;
    }
  }

  // a displayed voxel's height / width: the resolutions of the row and column axes (anisotropic data)
  function aspect(axis) {
    const [c, r] = PLANE[axis];
    const res = state.meta.resolution;
    return res[c] > 0 && res[r] > 0 ? res[r] / res[c] : 1;
  }

  function planeSize(axis) {
    const [c, r] = PLANE[axis];
    return [state.meta.shape[c], state.meta.shape[r]];
  }

  // fit a plane in its panel (the active one when no axis is given), integer zoom when >= 1
  function fitView(axis) {
    axis = axis || state.axis;
    const panel = panels().find((p) => p.axis === axis) || { w: canvas.clientWidth, h: canvas.clientHeight };
    const [cols, rows] = planeSize(axis);
    const w = Math.max(1, panel.w), h = Math.max(1, panel.h);
    let zoom = Math.min(w / cols, h / (rows * aspect(axis)));
    if (zoom >= 1) zoom = Math.floor(zoom);
    state.views[axis] = { zoom, tx: Math.round((w - cols * zoom) / 2), ty: Math.round((h - rows * zoom * aspect(axis)) / 2) };
  }

  function fitAll() {
    for (const p of panels()) fitView(p.axis);
  }

  function setLayout(layout) {
    state.layout = layout;
    $("layout").classList.toggle("selected", layout === "tri");
    fitAll();
    return render();
  }

  function setIndex(i) {
    const n = state.meta.shape[AXES[state.axis]];
    const index = Math.max(0, Math.min(n - 1, Math.round(i)));
    state.index[state.axis] = index;
    $("slice").value = String(index);
    $("slice-label").textContent = `${index} / ${n - 1}`;
    return render();
  }

  function setAxis(axis) {
    state.axis = axis;
    $("slice").max = String(state.meta.shape[AXES[axis]] - 1);
    for (const b of document.querySelectorAll("button.axis")) b.classList.toggle("selected", b.dataset.axis === axis);
    if (state.layout === "single") fitView(axis);
    return setIndex(state.index[axis]);
  }

  // the active plane's view: zoom (screen pixels per voxel) and the pan of its corner
  function setView(zoom, tx, ty) {
    state.views[state.axis] = { zoom, tx, ty };
    draw();
    showHover();
  }

  // the voxel under the mouse: [x, y, z] in the array, the index in its plane, and that plane
  function voxelAt(mx, my) {
    const panel = panelAt(mx, my);
    const cur = panel && state.shown[panel.axis];
    const view = panel && state.views[panel.axis];
    if (!cur || !view || cur.index !== state.index[panel.axis]) return null;
    const [cols, rows] = planeSize(cur.axis);
    const u = Math.floor((mx - panel.x0 - view.tx) / view.zoom);
    const v = Math.floor((my - panel.y0 - view.ty) / (view.zoom * aspect(cur.axis)));
    if (u < 0 || v < 0 || u >= cols || v >= rows) return null;
    const xyz = [0, 0, 0];
    xyz[AXES[cur.axis]] = cur.index;
    xyz[PLANE[cur.axis][0]] = u;
    xyz[PLANE[cur.axis][1]] = v;
    return { xyz, p: v * cols + u, cur };
  }

  function formatValue(v) {
    if (typeof v === "bigint" || Number.isInteger(v)) return String(v);
    return Number(v).toPrecision(6);
  }

  function showHover() {
    const el = $("hover");
    const at = state.mouse && voxelAt(state.mouse[0], state.mouse[1]);
    for (const k of ["x", "y", "z", "image", "segment"]) delete el.dataset[k];
    if (!at) {
      el.textContent = "\u00a0";
      return;
    }
    const g = at.xyz.map((c, i) => c + state.meta.offset[i]);
    const lines = [`x ${g[0]}  y ${g[1]}  z ${g[2]}`];
    [el.dataset.x, el.dataset.y, el.dataset.z] = g.map(String);
    const cur = at.cur;
    if (cur.img) {
      el.dataset.image = formatValue(cur.img.data[at.p]);
      lines.push(`image ${el.dataset.image}`);
    }
    if (cur.seg) {
      el.dataset.segment = cur.seg.data[at.p].toString();
      lines.push(`segment ${el.dataset.segment}`);
    }
    el.textContent = lines.join("\n");
  }

  function toggleSegmentAt(mx, my) {
    const at = voxelAt(mx, my);
    if (!at || !at.cur.seg) return;
    const id = at.cur.seg.data[at.p].toString();
    if (id === "0") return;
    if (state.selected.has(id)) state.selected.delete(id);
    else state.selected.add(id);
    showSelection();
    render();
  }

  function showSelection() {
    $("selected").textContent = state.selected.size ? [...state.selected].join(", ") : "none";
  }

  function zoomAt(factor, mx, my) {
    const panel = panelAt(mx, my) || panels()[0];
    const view = state.views[panel.axis];
    if (!view) return;
    const lx = mx - panel.x0, ly = my - panel.y0;
    view.tx = lx - (lx - view.tx) * factor;
    view.ty = ly - (ly - view.ty) * factor;
    view.zoom *= factor;
    draw();
    showHover();
  }

  // three views: the other two planes go through the voxel double-clicked
  function centreOn(mx, my) {
    const at = voxelAt(mx, my);
    if (!at) return;
    const names = Object.keys(AXES);
    for (let i = 0; i < 3; i++) if (names[i] !== at.cur.axis) state.index[names[i]] = at.xyz[i];
    setAxis(at.cur.axis);
  }

  function bindControls() {
    $("slice").addEventListener("input", (e) => setIndex(Number(e.target.value)));
    for (const b of document.querySelectorAll("button.axis")) b.addEventListener("click", () => setAxis(b.dataset.axis));
    $("contrast").addEventListener("input", (e) => {
      state.contrast = Number(e.target.value);
      $("contrast-label").textContent = state.contrast.toFixed(2);
      render();
    });
    $("brightness").addEventListener("input", (e) => {
      state.brightness = Number(e.target.value);
      $("brightness-label").textContent = state.brightness.toFixed(2);
      render();
    });
    $("alpha").addEventListener("input", (e) => {
      state.alpha = Number(e.target.value);
      $("alpha-label").textContent = state.alpha.toFixed(2);
      render();
    });
    document.addEventListener("keydown", (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      // a focused slider moves itself with the arrow and page keys
      if (e.target instanceof HTMLInputElement && /^(Arrow|Page|Home|End)/.test(e.key)) return;
      const step = { w: 1, ArrowUp: 1, s: -1, ArrowDown: -1, PageUp: 10, PageDown: -10 }[e.key];
      if (step !== undefined) setIndex(state.index[state.axis] + step);
      else if (e.key in AXES) setAxis(e.key);
      else if (e.key === "v") setLayout(state.layout === "single" ? "tri" : "single");
      else if (e.key === "+" || e.key === "=") zoomAt(1.25, canvas.width / 2, canvas.height / 2);
      else if (e.key === "-") zoomAt(0.8, canvas.width / 2, canvas.height / 2);
      else if (e.key === "r") { fitAll(); draw(); }
      else if (e.key === "Escape") { state.selected.clear(); showSelection(); render(); }
      else return;
      e.preventDefault();
    });
    $("layout").addEventListener("click", () => setLayout(state.layout === "single" ? "tri" : "single"));
    let drag = null;
    canvas.addEventListener("pointerdown", (e) => {
      const panel = panelAt(e.offsetX, e.offsetY);
      const view = panel && state.views[panel.axis];
      if (!view) return;
      drag = { x: e.offsetX, y: e.offsetY, view, tx: view.tx, ty: view.ty, moved: false };
      canvas.setPointerCapture(e.pointerId);
    });
    canvas.addEventListener("pointermove", (e) => {
      state.mouse = [e.offsetX, e.offsetY];
      if (drag) {
        const dx = e.offsetX - drag.x, dy = e.offsetY - drag.y;
        if (drag.moved || Math.abs(dx) + Math.abs(dy) > 3) {
          drag.moved = true;
          drag.view.tx = drag.tx + dx;
          drag.view.ty = drag.ty + dy;
          draw();
        }
      }
      showHover();
    });
    canvas.addEventListener("pointerup", (e) => {
      if (drag && !drag.moved) {
        const panel = panelAt(e.offsetX, e.offsetY);
        if (panel && panel.axis !== state.axis) setAxis(panel.axis);  // the slider follows the panel clicked
        toggleSegmentAt(e.offsetX, e.offsetY);
      }
      drag = null;
    });
    canvas.addEventListener("dblclick", (e) => { if (state.layout === "tri") centreOn(e.offsetX, e.offsetY); });
    canvas.addEventListener("pointerleave", () => { state.mouse = null; showHover(); });
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      zoomAt(e.deltaY < 0 ? 1.25 : 0.8, e.offsetX, e.offsetY);
    }, { passive: false });
    window.addEventListener("resize", () => { if (state.layout === "tri") fitAll(); draw(); });
  }

  async function start() {
    const meta = await (await fetch("meta")).json();
    state.meta = meta;
    state.image = meta.layers.find((l) => l.kind === "image") || null;
    state.seg = meta.layers.find((l) => l.kind === "segmentation") || null;
    state.alpha = state.image && state.seg ? 0.5 : 1;
    $("alpha").value = String(state.alpha);
    $("alpha-label").textContent = state.alpha.toFixed(2);
    $("source").textContent = `${meta.cloudpath} — ${meta.shape.join(" × ")} — ` +
      meta.layers.map((l) => `${l.kind} ${l.dtype}`).join(", ");
    for (const el of document.querySelectorAll(".image-only")) el.classList.toggle("hidden", !state.image);
    for (const el of document.querySelectorAll(".seg-only")) el.classList.toggle("hidden", !state.seg);
    for (const a of Object.keys(AXES)) state.index[a] = Math.floor(meta.shape[AXES[a]] / 2);
    bindControls();
    await setAxis("z");
  }

  const ready = start();
  window.aiovolumeViewer = { state, ready, render, setIndex, setAxis, setView, setLayout, fitView, segColor };
})();
