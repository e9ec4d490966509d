#!/bin/sh
# Copy the console's browser libraries from the npm registry into the package, so nothing loads from a CDN.
# Run after changing a version below; commit the result (src/evscada/console/static/vendor/).
set -eu

LEAFLET=1.9.4
MARKERCLUSTER=1.5.3
UPLOT=1.6.31
TOPOJSON_CLIENT=3.1.0
WORLD_ATLAS=2.0.2
SWAGGER_UI=5.36.0  # the API's /api/docs, in src/evscada/api/static/swagger-ui (the API does not need the console)

here=$(cd "$(dirname "$0")/.." && pwd)
dest="$here/src/evscada/console/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() {  # fetch NAME VERSION: unpack the npm tarball into $work/NAME
    (cd "$work" && npm pack --silent "$1@$2" >/dev/null && mkdir "$1" && tar -xzf "$1-$2.tgz" -C "$1" --strip-components=1)
}

fetch leaflet "$LEAFLET"
fetch leaflet.markercluster "$MARKERCLUSTER"
fetch uplot "$UPLOT"
fetch topojson-client "$TOPOJSON_CLIENT"
fetch world-atlas "$WORLD_ATLAS"
fetch swagger-ui-dist "$SWAGGER_UI"

rm -rf "$dest"
mkdir -p "$dest/leaflet/images" "$dest/markercluster" "$dest/uplot" "$dest/topojson-client" "$dest/world-atlas"
cp "$work/leaflet/dist/leaflet.js" "$work/leaflet/dist/leaflet.css" "$work/leaflet/LICENSE" "$dest/leaflet/"
cp "$work/leaflet/dist/images/"*.png "$dest/leaflet/images/"
cp "$work/leaflet.markercluster/dist/leaflet.markercluster.js" \
   "$work/leaflet.markercluster/dist/MarkerCluster.css" \
   "$work/leaflet.markercluster/dist/MarkerCluster.Default.css" \
   "$work/leaflet.markercluster/MIT-LICENCE.txt" "$dest/markercluster/"
cp "$work/uplot/dist/uPlot.iife.min.js" "$work/uplot/dist/uPlot.min.css" "$work/uplot/LICENSE" "$dest/uplot/"
# The offline base map: Natural Earth country outlines (public domain) as TopoJSON, and its decoder.
cp "$work/topojson-client/dist/topojson-client.min.js" "$work/topojson-client/LICENSE" "$dest/topojson-client/"
cp "$work/world-atlas/countries-50m.json" "$work/world-atlas/LICENSE" "$dest/world-atlas/"
swagger="$here/src/evscada/api/static/swagger-ui"
rm -rf "$swagger" && mkdir -p "$swagger"
cp "$work/swagger-ui-dist/swagger-ui-bundle.js" "$work/swagger-ui-dist/swagger-ui.css" \
   "$work/swagger-ui-dist/favicon-32x32.png" "$work/swagger-ui-dist/LICENSE" "$swagger/"
cp "$work/swagger-ui-dist/NOTICE" "$work/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt" "$swagger/" 2>/dev/null || true
cat > "$dest/VERSIONS" <<END
# written by tools/vendor-frontend.sh from the npm registry
leaflet $LEAFLET
leaflet.markercluster $MARKERCLUSTER
uplot $UPLOT
topojson-client $TOPOJSON_CLIENT (ISC)
world-atlas $WORLD_ATLAS (ISC; countries-50m.json: Natural Earth 4.1.0 data, public domain)
swagger-ui-dist $SWAGGER_UI (Apache-2.0; in src/evscada/api/static/swagger-ui, for /api/docs)
END
echo "vendored into $dest:"
cat "$dest/VERSIONS"
