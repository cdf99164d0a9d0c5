from ti_tui.cli import main

raise SystemExit(main())
