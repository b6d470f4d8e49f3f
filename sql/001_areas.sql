-- 001: the versioned area registry (CBS gemeenten, wijken and buurten).
-- Codes are strings and change per year, so rows are keyed on (year, code), never on names.

CREATE TABLE area (
    year          smallint NOT NULL CHECK (year BETWEEN 1990 AND 2100),
    code          text     NOT NULL
                  CHECK (code ~ '^(GM[0-9A-Z]{4}|WK[0-9A-Z]{6}|BU[0-9A-Z]{8})$'),
    kind          char(2)  NOT NULL CHECK (kind IN ('GM', 'WK', 'BU')),
    name          text,
    municipality  text     NOT NULL CHECK (municipality ~ '^GM[0-9A-Z]{4}$'),
    population    integer  CHECK (population >= 0),
    centroid_lat  double precision CHECK (centroid_lat BETWEEN -90 AND 90),
    centroid_lon  double precision CHECK (centroid_lon BETWEEN -180 AND 180),
    neighbours    text[]   NOT NULL DEFAULT '{}',
    imported_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (year, code),
    CHECK (kind = substr(code, 1, 2)),
    CHECK ((centroid_lat IS NULL) = (centroid_lon IS NULL))
);

COMMENT ON TABLE area IS
    'Area registry per CBS classification year. Population from CBS Kerncijfers wijken en buurten.';

CREATE INDEX area_municipality ON area (year, municipality);
