"""Operations surface: health verdict, Prometheus metrics text, the ops HTTP app."""
