from evscada.cli import main

raise SystemExit(main())
