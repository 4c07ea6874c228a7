"""Traffic monitoring on DAS: vehicles, interval statistics, events, bridge modes.

Modules (pure functions over a ``DASBlock`` unless noted):

- ``site`` - :class:`SiteConfig` (dataclass + YAML, ``deploy/sites/*.yaml``);
- ``preprocess`` - quasi-static envelope image, automatic dead/hot channel mask;
- ``detect`` - own vectorised Hough transform, line refinement, DBSCAN merging;
- ``classify`` - car/truck features and the packaged logistic model (``class_model.json``);
- ``pipeline`` - one window -> vehicles, ownership rule (each vehicle once), batch windowing;
- ``stats`` - interval statistics and traffic events (over lists of ``Vehicle``);
- ``structural`` - bridge modal frequencies;
- ``score`` - one-to-one scoring against synthetic truth;
- ``cli`` - ``dasedge traffic`` (batch); ``worker`` - ``dasedge traffic-worker`` (Kafka).
"""
