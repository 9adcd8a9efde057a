// Title suggestions under the search box, from /api/suggest; the page works without this.
(function () {
  var box = document.getElementById("q"), list = document.getElementById("suggestions");
  if (!box || !list || !window.fetch) return;
  var timer = null, last = "";
  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var text = box.value.trim();
      if (text.length < 2 || text === last) return;
      last = text;
      fetch("/api/suggest?size=8&q=" + encodeURIComponent(text))
        .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
        .then(function (data) {
          list.replaceChildren.apply(list, data.suggestions.map(function (s) {
            var option = document.createElement("option");
            option.value = s.text;  // text, never markup
            return option;
          }));
        })
        .catch(function () {});
    }, 200);
  });
})();
