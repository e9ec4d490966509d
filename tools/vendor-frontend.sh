#!/bin/sh
# Copy the console's browser libraries from the npm registry into the package, so nothing loads from a CDN.
# Run after changing a version below; commit the result (src/evscada/console/static/vendor/).
set -eu

LEAFLET=1.9.4
MARKERCLUSTER=1.5.3
UPLOT=1.6.31

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

rm -rf "$dest"
mkdir -p "$dest/leaflet/images" "$dest/markercluster" "$dest/uplot"
cp "$work/leaflet/dist/leaflet.js" "$work/leaflet/dist/leaflet.css" "$work/leaflet/LICENSE" "$dest/leaflet/"
cp "$work/leaflet/dist/images/"*.png "$dest/leaflet/images/"
cp "$work/leaflet.markercluster/dist/leaflet.markercluster.js" \
   "$work/leaflet.markercluster/dist/MarkerCluster.css" \
   "$work/leaflet.markercluster/dist/MarkerCluster.Default.css" \
   "$work/leaflet.markercluster/MIT-LICENCE.txt" "$dest/markercluster/"
cp "$work/uplot/dist/uPlot.iife.min.js" "$work/uplot/dist/uPlot.min.css" "$work/uplot/LICENSE" "$dest/uplot/"
cat > "$dest/VERSIONS" <<END
# written by tools/vendor-frontend.sh from the npm registry
leaflet $LEAFLET
leaflet.markercluster $MARKERCLUSTER
uplot $UPLOT
END
echo "vendored into $dest:"
cat "$dest/VERSIONS"
