/**
 * The page's script (inlined; no modules, no network): draws the charts with uPlot under the
 * x-axis, log-scale and smoothing controls, steps through each image key with its slider, and
 * enlarges an image in a lightbox on click. Exposes `window.btReport` for inspection.
 * Plain JavaScript in a string: it runs in the browser, not in Node.
 */
export const CHARTS_SCRIPT = String.raw`
(function () {
  var data = JSON.parse(document.getElementById('bt-report-data').textContent);
  var X_LABELS = { step: 'step', epoch: 'epoch', time: 'time (s)' };
  var settings = { x: 'step', log: false, smoothing: 0 };
  var box = document.getElementById('charts');

  // Debiased exponential moving average (as TensorBoard's): the first point is not pulled to 0.
  function ema(values, weight) {
    if (!weight) return values.slice();
    var last = 0, norm = 0;
    return values.map(function (v) {
      if (v === null) return null;
      last = last * weight + (1 - weight) * v;
      norm = norm * weight + (1 - weight);
      return last / norm;
    });
  }

  // uPlot wants one x array: the union of the series' x values, null where a series has no point.
  function align(series, axis, transform) {
    var xs = new Set();
    var maps = series.map(function (s) {
      var ys = transform(s.y), map = new Map();
      s[axis].forEach(function (x, i) {
        if (x === null || ys[i] === null) return;
        map.set(x, ys[i]);
        xs.add(x);
      });
      return map;
    });
    var x = Array.from(xs).sort(function (a, b) { return a - b; });
    return [x].concat(maps.map(function (m) { return x.map(function (v) { return m.has(v) ? m.get(v) : null; }); }));
  }

  function chartWidth() {
    var width = box.clientWidth, columns = width >= 900 ? 2 : 1;
    return Math.max(280, Math.floor((width - 12 * (columns - 1)) / columns) - 10);
  }

  var charts = data.charts.map(function (model) {
    var el = document.createElement('div');
    el.className = 'chart';
    el.setAttribute('data-title', model.title);
    box.appendChild(el);
    var colors = model.series.map(function (s, j) { return data.palette[j % data.palette.length]; });
    return { title: model.title, keys: model.series.map(function (s) { return s.label; }), colors: colors, model: model, el: el, plot: null };
  });

  function draw(chart) {
    // A chart without a positive value has nothing to show on a log scale: it stays linear.
    var log = settings.log && chart.model.series.some(function (s) { return s.y.some(function (v) { return v !== null && v > 0; }); });
    var aligned = align(chart.model.series, settings.x, function (ys) {
      var smoothed = ema(ys, settings.smoothing);
      return log ? smoothed.map(function (v) { return v !== null && v > 0 ? v : null; }) : smoothed;
    });
    if (chart.plot) chart.plot.destroy();
    var xLabel = X_LABELS[settings.x];
    chart.plot = new uPlot({
      title: chart.title,
      width: chartWidth(),
      height: 280,
      scales: { x: { time: false }, y: log ? { distr: 3, log: 10 } : {} },
      axes: [{ label: xLabel }, {}],
      series: [{ label: xLabel }].concat(chart.model.series.map(function (s, j) {
        return { label: s.label, stroke: chart.colors[j], width: 2, spanGaps: true, points: { show: aligned[0].length <= 50 } };
      })),
    }, aligned, chart.el);
    chart.el.setAttribute('data-x', settings.x);
    chart.el.setAttribute('data-log', String(log));
    chart.el.setAttribute('data-smoothing', String(settings.smoothing));
  }

  function redraw() { charts.forEach(draw); }

  var xSelect = document.getElementById('x-axis');
  var logBox = document.getElementById('log-scale');
  var smoothing = document.getElementById('smoothing');
  var smoothingValue = document.getElementById('smoothing-value');
  if (xSelect) {
    var hasTime = data.charts.some(function (c) { return c.series.some(function (s) { return s.time.some(function (t) { return t !== null; }); }); });
    xSelect.querySelector('option[value="time"]').disabled = !hasTime;
    xSelect.addEventListener('change', function () { settings.x = xSelect.value; redraw(); });
    logBox.addEventListener('change', function () { settings.log = logBox.checked; redraw(); });
    smoothing.addEventListener('input', function () {
      settings.smoothing = Number(smoothing.value);
      smoothingValue.textContent = settings.smoothing.toFixed(2);
      redraw();
    });
  }
  redraw();
  var resizing = 0;
  window.addEventListener('resize', function () {
    cancelAnimationFrame(resizing);
    resizing = requestAnimationFrame(function () { charts.forEach(function (c) { c.plot.setSize({ width: chartWidth(), height: 280 }); }); });
  });

  var lightbox = document.getElementById('lightbox');
  var bigImage = lightbox.querySelector('img');
  var bigCaption = lightbox.querySelector('figcaption');
  // Fit: scaled (up or down) to the window; natural: one image pixel per screen pixel, scrollable.
  function fit(zoom) {
    lightbox.setAttribute('data-zoom', zoom);
    var w = bigImage.naturalWidth, h = bigImage.naturalHeight;
    if (!w || !h) return;
    var scale = zoom === 'natural' ? 1 : Math.min((window.innerWidth * 0.95) / w, (window.innerHeight * 0.85) / h);
    bigImage.style.width = Math.round(w * scale) + 'px';
    bigImage.style.height = Math.round(h * scale) + 'px';
  }
  function openLightbox(img, caption) {
    bigImage.onload = function () { fit('fit'); };
    bigImage.src = img.src;
    bigImage.alt = img.alt;
    bigCaption.textContent = caption;
    lightbox.hidden = false;
    if (bigImage.complete) fit('fit');
  }
  function closeLightbox() { lightbox.hidden = true; }
  bigImage.addEventListener('click', function (e) {
    e.stopPropagation();
    fit(lightbox.getAttribute('data-zoom') === 'fit' ? 'natural' : 'fit');
  });
  lightbox.addEventListener('click', closeLightbox);
  lightbox.querySelector('button').addEventListener('click', closeLightbox);
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') closeLightbox(); });

  var images = [];
  Array.prototype.forEach.call(document.querySelectorAll('.group'), function (el, i) {
    var group = data.images[i];
    var img = el.querySelector('img');
    var label = el.querySelector('.label');
    var slider = el.querySelector('input');
    var link = el.querySelector('a.open');
    function show(index) {
      var item = group.items[index];
      if (!item) return;
      img.src = item.src;
      img.alt = group.key + ' at step ' + item.step;
      link.href = item.href;
      label.textContent = 'step ' + item.step + ' (epoch ' + item.epoch + ')' + (item.caption ? ' \u2014 ' + item.caption : '');
      el.setAttribute('data-step', String(item.step));
    }
    slider.addEventListener('input', function () { show(Number(slider.value)); });
    img.addEventListener('click', function () { openLightbox(img, label.textContent); });
    show(Number(slider.value));
    images.push({ key: group.key, steps: group.items.map(function (it) { return it.step; }) });
  });

  // Per-class tables open on their latest epochs.
  Array.prototype.forEach.call(document.querySelectorAll('.heatmap-wrap'), function (el) { el.scrollLeft = el.scrollWidth; });

  window.btReport = { charts: charts, images: images, settings: settings, ready: true };
})();
`;
